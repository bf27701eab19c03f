"""The `provision-resources` flow: boots the VMs of one provision task on OpenStack.

Steps (`slices_bi.flows.provision_steps`), each one Prefect task run for all the task's
resources: lookup-catalog -> resolve-network -> pre-flight -> create-servers -> wait-for-active ->
record-addresses, and clean-up for the resources that failed.

Decisions:
- The flow takes the task id only; the rest, user data included, comes from the catalog.
  Only create-servers reads the user data; it is dropped once the resource is active or
  given up.
- No Prefect result persistence or caching: a retried or resumed run finds the server it
  made by id, name, tag and metadata (find-before-create), which also covers a crash
  between Nova's answer and the saving of the id, where a cache cannot help.
- A server that Nova puts into ERROR without a fault (its build was lost on the cloud's
  side) is deleted and made again once; an ERROR with a fault (no valid host, quota) is
  the request's and final.
- A resource that goes `deleting` meanwhile is left to the delete flow (`Superseded`).
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from slices_bi.catalog import flow_queries, lifecycle
from slices_bi.catalog.models import ResourceStatus, TaskKind
from slices_bi.deployments.names import PROVISION_FLOW
from slices_bi.flows import hooks
from slices_bi.flows.common import CLOUD_RETRIES, describe_failure, start_task
from slices_bi.flows.preflight_step import preflight_check
from slices_bi.flows.progress import Progress
from slices_bi.flows.provision_steps import (
    GONE,
    WEIGHTS,
    clean_up,
    create_servers,
    discard_servers,
    lookup_catalog,
    record_addresses,
    resolve_network,
    wait_for_active,
)
from slices_bi.flows.steps import outcome_of
from slices_bi.openstack import errors


class ProvisionFailed(Exception):
    """Some resources of the task could not be provisioned (the flow run ends Failed)."""


# --- the flow ----------------------------------------------------------------------------


def _run_step(progress: Progress, step: object, ids: list[str], *args: object) -> dict:
    """Run one step for `ids` and record its outcome; returns the values of those done."""
    if not ids:
        return {}
    state = step(*args, return_state=True)  # type: ignore[operator]
    name = getattr(step, "name", "step")
    return progress.record(name, outcome_of(state, ids, CLOUD_RETRIES + 1))


def _begin(task_id: str, progress: Progress) -> None:
    """Mark the task's resources provisioning; note those already done or failed."""
    for rid in list(progress.done):
        status = lifecycle.start_provisioning(resource_id=rid, task_id=task_id)
        if status == ResourceStatus.ACTIVE:
            progress.settle(rid)
        elif status == ResourceStatus.FAILED:  # an earlier run gave it up: report, clean
            row = flow_queries.get_resource_view(rid)
            progress.failures[rid] = errors.FinalCloudError(
                row.status_message if row else "failed earlier",
                reason=row.status_reason if row and row.status_reason else "Failed",
            )
            progress.settle(rid)
        elif status != ResourceStatus.PROVISIONING:
            progress.superseded.add(rid)
            progress.settle(rid)
    progress.flush("looking up the image and flavor in the cloud")


def _build(
    progress: Progress, ids: list[str], boots: dict, nets: dict
) -> tuple[dict[str, str], dict[str, str | None]]:
    """create-servers + wait-for-active, with one new server for builds the cloud lost;
    returns the server ids and private addresses of the resources that became ACTIVE."""
    servers = _run_step(progress, create_servers, ids, ids, boots, nets)
    progress.flush("waiting for the server(s) to become ACTIVE")
    ips = _run_step(progress, wait_for_active, list(servers), progress.task_id, servers)
    lost = {
        rid: servers[rid]
        for rid, exc in progress.failures.items()
        if rid in servers and getattr(exc, "retry_on_new_server", False)
    }
    if not lost:
        return servers, ips
    get_run_logger().warning("the cloud lost the build of %s; trying new servers", list(lost))
    for rid in lost:
        del progress.failures[rid]
        progress.done[rid] = sum(
            WEIGHTS[s] for s in ("lookup-catalog", "resolve-network", "pre-flight")
        )
    again = list(_run_step(progress, discard_servers, list(lost), lost))
    renewed = _run_step(progress, create_servers, again, again, boots, nets)
    servers.update(renewed)
    ips.update(_run_step(progress, wait_for_active, list(renewed), progress.task_id, renewed))
    for rid in again:
        exc = progress.failures.get(rid)
        if isinstance(exc, errors.ServerFailedError) and exc.retry_on_new_server:
            exc.message += "; a second server failed the same way: ask again later"
    return servers, ips


def _give_up(task_id: str, progress: Progress) -> list[str]:
    """Clean up and mark failed every failed resource; returns the task message lines."""
    failed = list(progress.failures)
    state = clean_up(task_id, failed, return_state=True)
    cleaned = outcome_of(state, failed, CLOUD_RETRIES + 1)
    lines: list[str] = []
    for rid in failed:
        reason, message = describe_failure(progress.failures[rid])
        if rid in cleaned.failed:
            message += f" (clean-up incomplete: {describe_failure(cleaned.failed[rid])[1]})"
        view = flow_queries.get_resource_view(rid)
        if view is not None and view.status in GONE:
            progress.superseded.add(rid)
            continue
        lifecycle.mark_resource_failed(resource_id=rid, reason=reason, message=message)
        label = f"{rid} ({view.friendly_name})" if view else rid
        lines.append(f"{label}: {reason}: {message}")
        get_run_logger().warning("resource %s failed: %s", rid, reason)
    return lines


@flow(name=PROVISION_FLOW, **hooks.TASK_STATE_HOOKS)
def provision_resources(task_id: str) -> dict[str, str]:
    """Provision the VMs of one slices-bi provision task on the site's OpenStack.

    Parameter: `task_id` only; everything else (image, flavor, network, cloud-init user
    data) is read from the slices-bi catalog. For all the task's resources together: look
    up the catalog image and flavor in the cloud, resolve the network, create the servers
    (or adopt those an earlier run made), wait until they are ACTIVE, add floating IPs
    where asked, mark them active. Transient cloud errors are retried with backoff; on a
    final one, what was made is deleted and the resource is marked failed with the reason.
    Returns {resource id: "active" | "failed" | "superseded"}.
    """
    view = start_task(task_id, TaskKind.PROVISION)
    if view is None:
        return {}
    progress = Progress(task_id, view.resource_ids, WEIGHTS)
    _begin(task_id, progress)
    todo = [rid for rid in progress.live() if progress.done[rid] < 100]
    boots = _run_step(progress, lookup_catalog, todo, todo)
    progress.flush("resolving the network")
    nets = _run_step(progress, resolve_network, list(boots), list(boots))
    progress.flush("checking quotas and fit in the cloud (pre-flight)")
    fit = _run_step(progress, preflight_check, list(nets), boots, nets)
    progress.flush("creating the server(s)")
    servers, ips = _build(progress, list(fit), boots, nets)
    progress.flush("recording addresses")
    booted = {rid: servers[rid] for rid in ips}
    _run_step(progress, record_addresses, list(booted), booted, nets, ips)

    lines = _give_up(task_id, progress) if progress.failures else []
    outcome = dict.fromkeys(view.resource_ids, "active")
    outcome.update(dict.fromkeys(progress.failures, "failed"))
    outcome.update(dict.fromkeys(progress.superseded, "superseded"))
    progress.finish()
    if lines:
        message = f"{len(lines)} of {len(outcome)} resource(s) failed: " + "; ".join(lines)
        lifecycle.fail_task(task_id=task_id, message=message)
        raise ProvisionFailed(message)
    active = sum(1 for s in outcome.values() if s == "active")
    lifecycle.finish_task(task_id=task_id, message=f"{active} of {len(outcome)} resource(s) active")
    return outcome
