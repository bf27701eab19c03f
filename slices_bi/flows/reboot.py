"""The `reboot-resource` flow: reboots the VMs of one reboot task and waits until they are
ACTIVE again (`POST /resources/{id}/reboot`).

One step, reboot-servers, for all the task's resources: the kind (soft or hard) comes from
the request's timeline event; a resource that already shows `rebooted` for this task (a
resumed run) is not rebooted again. The timeline gets `rebooted` or `reboot_failed`.
"""

from __future__ import annotations

from prefect import flow, task

from slices_bi.catalog import flow_queries, lifecycle, reboot
from slices_bi.catalog.models import ResourceStatus, TaskKind
from slices_bi.deployments.names import REBOOT_FLOW
from slices_bi.flows import hooks
from slices_bi.flows.common import CLOUD_RETRIES, cloud_task_options, describe_failure, start_task
from slices_bi.flows.progress import Progress
from slices_bi.flows.steps import Outcome, for_each, outcome_of
from slices_bi.openstack import compute, power
from slices_bi.openstack.connection import connect
from slices_bi.openstack.errors import FinalCloudError
from slices_bi.settings import get_settings

STEP = "reboot-servers"


class RebootFailed(Exception):
    """Some resources of the task could not be rebooted (the flow run ends Failed)."""


@task(name=STEP, **cloud_task_options())
def reboot_servers(task_id: str, resource_ids: list[str]) -> Outcome:
    """Reboot each resource's server (soft or hard, as asked) and wait until it is ACTIVE."""
    conn, settings = connect(), get_settings()

    def one(resource_id: str) -> str:
        view = flow_queries.get_resource_view(resource_id)
        if view is None or view.status != ResourceStatus.ACTIVE or not view.server_id:
            state = view.status.value if view else "gone"
            raise FinalCloudError(f"the resource is {state}; not rebooted", reason="NotActive")
        if not reboot.reboot_recorded(resource_id=resource_id, task_id=task_id):
            kind = reboot.reboot_kind(resource_id=resource_id, task_id=task_id)
            power.reboot_server(conn, view.server_id, hard=kind == "hard")
        compute.wait_for_active(
            conn, view.server_id, timeout=settings.server_active_timeout_seconds, interval=2.0
        )
        return view.server_id

    return for_each(one, resource_ids)


@flow(name=REBOOT_FLOW, **hooks.TASK_STATE_HOOKS)
def reboot_resource(task_id: str) -> list[str]:
    """Reboot the VMs of one slices-bi reboot task and wait until they are ACTIVE again.

    Parameter: `task_id` only. Transient cloud errors are retried with backoff; a server
    that does not come back ACTIVE fails its resource's reboot (the resource stays active:
    its server is still there). Returns the ids of the resources rebooted.
    """
    view = start_task(task_id, TaskKind.REBOOT)
    if view is None:
        return []
    ids = list(view.resource_ids)
    progress = Progress(task_id, ids, {STEP: 100})
    progress.flush("rebooting")
    state = reboot_servers(task_id, ids, return_state=True)
    done = progress.record(STEP, outcome_of(state, ids, CLOUD_RETRIES + 1))
    for rid, server_id in done.items():
        if not reboot.reboot_recorded(resource_id=rid, task_id=task_id):
            reboot.record_reboot(resource_id=rid, task_id=task_id, server_id=server_id)
    lines = []
    for rid, exc in progress.failures.items():
        reason, message = describe_failure(exc)
        reboot.record_reboot(resource_id=rid, task_id=task_id, error=message, reason=reason)
        lines.append(f"{rid}: {reason}: {message}")
    progress.finish()
    if lines:
        message = f"{len(lines)} of {len(ids)} reboot(s) failed: " + "; ".join(lines)
        lifecycle.fail_task(task_id=task_id, message=message)
        raise RebootFailed(message)
    lifecycle.finish_task(task_id=task_id, message=f"{len(done)} resource(s) rebooted")
    return list(done)
