"""The `delete-resource` flow: removes the VMs of one delete task from OpenStack.

For all the task's resources together: resource -> deleting; delete floating IPs and
servers ("not found" counts as done); wait until the servers are gone; resource -> deleted
(last); task finished. A resource whose deletion keeps failing stays `deleting` with the
reason, and expiry-cleanup starts its deletion again later: nobody has to ask twice.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task

from slices_bi.catalog import flow_queries, lifecycle
from slices_bi.catalog.models import ResourceStatus, TaskKind
from slices_bi.deployments.names import DELETE_FLOW
from slices_bi.flows import cleanup, hooks
from slices_bi.flows.common import CLOUD_RETRIES, cloud_task_options, describe_failure, start_task
from slices_bi.flows.progress import Progress
from slices_bi.flows.steps import Outcome, for_each, outcome_of
from slices_bi.openstack.connection import connect
from slices_bi.openstack.errors import CloudError
from slices_bi.openstack.watch import get_watcher
from slices_bi.settings import get_settings

WEIGHTS = {"release-cloud-resources": 40, "wait-for-servers-gone": 55}


class DeletionFailed(Exception):
    """Some resources of the task could not be deleted (the flow run ends Failed)."""


@task(name="release-cloud-resources", **cloud_task_options())
def release_cloud_resources(resource_ids: list[str]) -> Outcome:
    """Delete each resource's floating IPs and servers; the server ids to wait on."""
    conn, site_id = connect(), get_settings().site_id

    def one(resource_id: str) -> list[str]:
        view = flow_queries.get_resource_view(resource_id)
        if view is None or view.status == ResourceStatus.DELETED:
            return []
        return cleanup.release_cloud_resources(conn, view, site_id)

    return for_each(one, resource_ids)


@task(name="wait-for-servers-gone", **cloud_task_options())
def wait_for_servers_gone(task_id: str, servers: dict[str, list[str]]) -> Outcome:
    """Wait until every server is gone (timeout: server_delete_timeout_seconds)."""
    settings = get_settings()
    gone = get_watcher(connect, settings.site_id).wait(
        [sid for sids in servers.values() for sid in sids],
        "gone",
        timeout=settings.server_delete_timeout_seconds,
        on_tick=lambda: lifecycle.touch_task(task_id=task_id),
    )
    outcome = Outcome()
    for resource_id, server_ids in servers.items():
        problems = [e for e in (gone.get(s) for s in server_ids) if isinstance(e, CloudError)]
        if problems:
            outcome.failed[resource_id] = problems[0]
        else:
            outcome.done[resource_id] = server_ids
    return outcome


def _step(progress: Progress, step: object, ids: list[str], *args: object) -> dict:
    if not ids:
        return {}
    state = step(*args, return_state=True)  # type: ignore[operator]
    return progress.record(getattr(step, "name", "step"), outcome_of(state, ids, CLOUD_RETRIES + 1))


@flow(name=DELETE_FLOW, **hooks.TASK_STATE_HOOKS)
def delete_resource(task_id: str) -> list[str]:
    """Delete the VMs of one slices-bi delete task from the site's OpenStack.

    Parameter: `task_id` only. Marks each resource `deleting`, deletes its floating IP and
    its servers (by the saved id, and all found by name, tag and metadata, which covers a
    provision run that died before saving the id); "not found" counts as done. Waits until
    the servers are gone, then marks the resources `deleted`. Transient cloud errors are
    retried with backoff. Returns the ids of the resources this run marked deleted.
    """
    logger = get_run_logger()
    view = start_task(task_id, TaskKind.DELETE)
    if view is None:
        return []
    progress = Progress(task_id, view.resource_ids, WEIGHTS)
    todo: list[str] = []
    for rid in view.resource_ids:
        row = lifecycle.mark_resource_deleting(resource_id=rid, task_id=task_id)
        if row is None or row.status == ResourceStatus.DELETED:
            progress.settle(rid)
        else:
            todo.append(rid)
    progress.flush(f"deleting {len(todo)} server(s)")
    released = _step(progress, release_cloud_resources, todo, todo)
    progress.flush("waiting for the server(s) to be gone")
    waited = _step(progress, wait_for_servers_gone, list(released), task_id, released)
    deleted = [rid for rid in waited if lifecycle.mark_resource_deleted(resource_id=rid)]
    logger.info("%d resource(s) deleted", len(deleted))
    progress.finish()
    if progress.failures:
        lines = []
        for rid, exc in progress.failures.items():
            reason, message = describe_failure(exc)
            lifecycle.note_deletion_problem(resource_id=rid, reason=reason, message=message)
            lines.append(f"{rid}: {reason}: {message}")
        message = (
            f"{len(lines)} of {len(view.resource_ids)} deletion(s) failed and will be tried "
            "again by expiry-cleanup: " + "; ".join(lines)
        )
        lifecycle.fail_task(task_id=task_id, message=message)
        raise DeletionFailed(message)
    lifecycle.finish_task(task_id=task_id, message=f"{len(deleted)} resource(s) deleted")
    return deleted
