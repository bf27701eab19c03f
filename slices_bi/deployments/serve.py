"""The worker: serves the four deployments (two on schedules) from one Prefect runner."""

from __future__ import annotations

from typing import Any, cast

from slices_bi.deployments.names import (
    CATALOG_SYNC_FLOW,
    DELETE_FLOW,
    EXPIRY_CLEANUP_FLOW,
    PROVISION_FLOW,
)
from slices_bi.settings import Settings, get_settings


def build_deployments(settings: Settings) -> list[Any]:
    """The RunnerDeployments the worker serves: two on demand, two on schedules."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.deployments.runner import RunnerDeployment

    from slices_bi.flows.catalog_sync import catalog_sync
    from slices_bi.flows.deprovision import delete_resource
    from slices_bi.flows.expiry_cleanup import expiry_cleanup
    from slices_bi.flows.provision import provision_resources

    # `to_deployment` is sync/async dual; called from sync code it returns the deployment.
    return [
        cast(RunnerDeployment, deployment)
        for deployment in (
            provision_resources.to_deployment(name=PROVISION_FLOW, tags=["slices-bi"]),
            delete_resource.to_deployment(name=DELETE_FLOW, tags=["slices-bi"]),
            catalog_sync.to_deployment(
                name=CATALOG_SYNC_FLOW,
                interval=settings.catalog_sync_interval_seconds,
                concurrency_limit=1,
                tags=["slices-bi", "scheduled"],
            ),
            expiry_cleanup.to_deployment(
                name=EXPIRY_CLEANUP_FLOW,
                interval=settings.expiry_cleanup_interval_seconds,
                # Overlapping cleanups could together exceed the deletion cap.
                concurrency_limit=ConcurrencyLimitConfig(
                    limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
                ),
                tags=["slices-bi", "scheduled"],
            ),
        )
    ]


def serve_deployments(settings: Settings | None = None) -> None:
    """Register the deployments (upsert) and run their flow runs until SIGINT/SIGTERM.

    `pause_on_shutdown=False`: one worker stopping must not pause the schedules every other
    worker shares. Set PREFECT_RUNNER_POLL_FREQUENCY=1 before Prefect is imported (the CLI
    does) or each run waits up to 10 s to be picked up.
    """
    from prefect import serve

    from slices_bi.flows.limits import ensure_openstack_limit

    resolved = settings or get_settings()
    ensure_openstack_limit(resolved.openstack_concurrency)
    serve(*build_deployments(resolved), limit=resolved.worker_limit, pause_on_shutdown=False)
