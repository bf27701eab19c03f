"""The worker: registers the five deployments (two on schedules) and runs their flow runs
in threads of this process (`slices_bi.deployments.executor`)."""

from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import Any, cast

from slices_bi.deployments.names import (
    CATALOG_SYNC_FLOW,
    DELETE_FLOW,
    EXPIRY_CLEANUP_FLOW,
    PROVISION_FLOW,
    REBOOT_FLOW,
)
from slices_bi.settings import Settings, get_settings

logger = logging.getLogger(__name__)


def served_flows() -> list[Any]:
    """The flows of `build_deployments`, in the same order."""
    from slices_bi.flows.catalog_sync import catalog_sync
    from slices_bi.flows.deprovision import delete_resource
    from slices_bi.flows.expiry_cleanup import expiry_cleanup
    from slices_bi.flows.provision import provision_resources
    from slices_bi.flows.reboot import reboot_resource

    return [provision_resources, delete_resource, catalog_sync, expiry_cleanup, reboot_resource]


def build_deployments(settings: Settings) -> list[Any]:
    """The RunnerDeployments the worker serves: three on demand, two on schedules.

    No Prefect deployment concurrency limit on the scheduled jobs: its slot is leased in
    the Prefect server's memory and a server restart kept it taken for good. The jobs keep
    two runs apart with a lease in the catalog instead (`slices_bi.catalog.jobs`).
    """
    from prefect.deployments.runner import RunnerDeployment

    provision_resources, delete_resource, catalog_sync, expiry_cleanup, reboot = served_flows()
    # `to_deployment` is sync/async dual; called from sync code it returns the deployment.
    return [
        cast(RunnerDeployment, deployment)
        for deployment in (
            provision_resources.to_deployment(name=PROVISION_FLOW, tags=["slices-bi"]),
            delete_resource.to_deployment(name=DELETE_FLOW, tags=["slices-bi"]),
            catalog_sync.to_deployment(
                name=CATALOG_SYNC_FLOW,
                interval=settings.catalog_sync_interval_seconds,
                tags=["slices-bi", "scheduled"],
            ),
            expiry_cleanup.to_deployment(
                name=EXPIRY_CLEANUP_FLOW,
                interval=settings.expiry_cleanup_interval_seconds,
                tags=["slices-bi", "scheduled"],
            ),
            reboot.to_deployment(name=REBOOT_FLOW, tags=["slices-bi"]),
        )
    ]


def serve_deployments(settings: Settings | None = None) -> None:
    """Register the deployments (upsert), make sure the global concurrency limit and the
    zombie automation exist, and run flow runs until SIGINT/SIGTERM; then hand the runs in
    flight back and return (their threads are still running: exit the process at once).

    Set PREFECT_FLOWS_HEARTBEAT_FREQUENCY before Prefect is imported (the CLI does) so
    that runs send heartbeats.
    """
    from slices_bi.deployments.executor import InProcessRunner
    from slices_bi.deployments.zombies import ensure_zombie_automation
    from slices_bi.flows import slot_pool
    from slices_bi.flows.limits import ensure_openstack_limit

    resolved = settings or get_settings()
    ensure_openstack_limit(resolved.openstack_concurrency)
    ensure_zombie_automation(resolved.run_dead_after_seconds)
    slot_pool.record_leases_in(slot_pool.lease_record(resolved.data_dir, resolved.worker_name))
    pairs = zip(build_deployments(resolved), served_flows(), strict=True)
    flows = {deployment.apply(): flow for deployment, flow in pairs}
    runner = InProcessRunner(
        flows,
        name=resolved.worker_name,
        limit=resolved.worker_limit,
        poll_seconds=resolved.worker_poll_seconds,
        ready_file=resolved.data_dir / "worker.ready",
    )

    def stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("%s: stopping, handing back the runs in flight", signal.Signals(signum).name)
        runner.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    runner.run()
    # The process exits now: the slots its threads hold would otherwise stay taken for a lease.
    slot_pool.give_back(even_in_use=True)
