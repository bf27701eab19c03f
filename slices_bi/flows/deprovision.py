"""The `delete-resource` flow: removes the VM of one delete task from OpenStack.

resource -> deleting; delete its floating IP and server ("not found" counts as done);
wait until the server is gone; resource -> deleted (last); task finished.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task

from slices_bi.catalog import flow_queries, lifecycle
from slices_bi.catalog.models import ResourceStatus, TaskKind
from slices_bi.deployments.names import DELETE_FLOW
from slices_bi.flows import cleanup, hooks
from slices_bi.flows.common import (
    POLL_INTERVAL_SECONDS,
    cloud_task_options,
    describe_failure,
    start_task,
)
from slices_bi.openstack.connection import connect
from slices_bi.settings import get_settings


@task(
    name="release-cloud-resources",
    task_run_name="release-cloud-resources-{resource_id}",
    **cloud_task_options(),
)
def release_cloud_resources(resource_id: str) -> list[str]:
    """Delete the resource's floating IP and server(s); returns the server ids to wait on."""
    view = flow_queries.get_resource_view(resource_id)
    if view is None or view.status == ResourceStatus.DELETED:
        return []
    server_ids = cleanup.release_cloud_resources(connect(), view, get_settings().site_id)
    get_run_logger().info(
        "resource %s: deletion asked for server(s) %s", resource_id, ", ".join(server_ids) or "-"
    )
    return server_ids


@task(
    name="wait-for-server-gone",
    task_run_name="wait-for-server-gone-{resource_id}",
    **cloud_task_options(),
)
def wait_for_server_gone(resource_id: str, server_ids: list[str]) -> None:
    """Wait until every server of `server_ids` is gone (timeout: server_delete_timeout_seconds)."""
    cleanup.wait_servers_gone(
        connect(),
        server_ids,
        timeout=get_settings().server_delete_timeout_seconds,
        interval=POLL_INTERVAL_SECONDS,
    )


@flow(name=DELETE_FLOW, flow_run_name="delete-{task_id}", **hooks.TASK_STATE_HOOKS)
def delete_resource(task_id: str) -> list[str]:
    """Delete the VM(s) of one slices-bi delete task from the site's OpenStack.

    Parameter: `task_id` only. Marks each resource `deleting`, deletes its floating IP and
    its server (by the saved id, else found by name, tag and metadata, which covers a
    provision run that died before saving the id); "not found" counts as done. Waits until
    the server is gone, then marks the resource `deleted`. Transient cloud errors are
    retried with backoff. Returns the ids of the resources now deleted.
    """
    view = start_task(task_id, TaskKind.DELETE)
    if view is None:
        return []

    total = max(len(view.resource_ids), 1)
    deleted: list[str] = []
    for index, rid in enumerate(view.resource_ids):
        try:
            if _delete_one(task_id, rid, base=100 * index // total, share=100 // total):
                deleted.append(rid)
        except Exception as exc:
            reason, message = describe_failure(exc)
            lifecycle.fail_task(
                task_id=task_id, message=f"deletion of {rid} failed: {reason}: {message}"
            )
            raise
    lifecycle.finish_task(task_id=task_id, message=f"{len(deleted)} resource(s) deleted")
    return deleted


def _delete_one(task_id: str, resource_id: str, *, base: int, share: int) -> bool:
    """Delete one resource; True when this run marked it deleted."""
    logger = get_run_logger()
    resource = lifecycle.mark_resource_deleting(resource_id=resource_id, task_id=task_id)
    if resource is None or resource.status == ResourceStatus.DELETED:
        logger.info("resource %s is already gone", resource_id)
        return False
    lifecycle.set_task_progress(task_id=task_id, completed=base + share * 10 // 100)
    server_ids = release_cloud_resources(resource_id)
    lifecycle.set_task_progress(task_id=task_id, completed=base + share * 40 // 100)
    if server_ids:
        wait_for_server_gone(resource_id, server_ids)
    lifecycle.set_task_progress(task_id=task_id, completed=base + share * 90 // 100)
    done = lifecycle.mark_resource_deleted(resource_id=resource_id)
    logger.info("resource %s deleted", resource_id)
    return done
