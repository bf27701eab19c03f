"""The `provision-resources` flow: boots the VMs of one provision task on OpenStack.

Per resource: lookup-catalog -> resolve-network -> create-server -> wait-for-active ->
record-addresses. The resources of a task go through each step together (one Prefect task
run per resource, submitted concurrently), so the boot waits of several VMs overlap.

Decisions:
- The flow takes the task id only; the rest, user data included, comes from the catalog.
  Only `create_server` reads the user data, and it is dropped once the server exists.
- No Prefect result persistence or caching: a retried or re-run flow finds the server it
  made by name/tag/metadata (find-before-create), which also covers a crash between
  Nova's answer and the saving of the id, where a cache cannot help.
- Clean-up after a final failure is an explicit `clean-up` task rather than a
  `transaction()` rollback: it must also delete a floating IP made in the last step, wait
  (bounded) until the server is gone, and behave the same when run from a hook after a
  crash or cancellation (`slices_bi.flows.cleanup`).
- A resource that goes `deleting` meanwhile is left to the delete flow (`Superseded`).
- Only the Nova create call holds a slot of the global concurrency limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect import flow, get_run_logger, task

from slices_bi.catalog import flow_queries, lifecycle
from slices_bi.catalog.models import ResourceStatus, TaskKind
from slices_bi.deployments.names import PROVISION_FLOW
from slices_bi.flows import cleanup, hooks
from slices_bi.flows.common import (
    POLL_INTERVAL_SECONDS,
    Superseded,
    cloud_task_options,
    describe_failure,
    start_task,
)
from slices_bi.flows.limits import openstack_slot
from slices_bi.flows.progress import StepTracker
from slices_bi.openstack import boot, compute, errors, network
from slices_bi.openstack.connection import connect
from slices_bi.settings import get_settings

_GONE = (ResourceStatus.DELETING, ResourceStatus.DELETED)


@dataclass(frozen=True)
class BootIds:
    """The OpenStack ids a server boots from."""

    image_id: str
    flavor_id: str


class ProvisionFailed(Exception):
    """Some resources of the task could not be provisioned (the flow run ends Failed)."""


def _live_resource(resource_id: str) -> flow_queries.ResourceView:
    view = flow_queries.get_resource_view(resource_id)
    if view is None or view.status in _GONE:
        raise Superseded(resource_id)
    return view


# --- steps -------------------------------------------------------------------------------


@task(name="lookup-catalog", task_run_name="lookup-catalog-{resource_id}", **cloud_task_options())
def lookup_catalog(resource_id: str) -> BootIds:
    """The Glance image id and Nova flavor id of the resource's catalog image and flavor."""
    source = flow_queries.get_boot_source(resource_id)
    if source is None:
        raise Superseded(resource_id)
    if source.image_location is None:
        raise errors.NotFoundError(
            f"image {source.image_id} is not in the catalog any more",
            reason=errors.IMAGE_NOT_FOUND,
        )
    if source.flavor_location is None:
        raise errors.NotFoundError(
            f"flavor {source.flavor_id} is not in the catalog any more",
            reason=errors.FLAVOR_NOT_FOUND,
        )
    conn = connect()
    image = boot.resolve_image(
        conn, source.image_location, label=source.image_label, image_id=source.image_id
    )
    flavor = boot.resolve_flavor(
        conn, source.flavor_location, label=source.flavor_label, flavor_id=source.flavor_id
    )
    return BootIds(image_id=image, flavor_id=flavor)


@task(name="resolve-network", task_run_name="resolve-network-{resource_id}", **cloud_task_options())
def resolve_network(resource_id: str) -> str:
    """The id of the network the resource boots on (its `network_name`, else the default)."""
    view = _live_resource(resource_id)
    name = view.network_name or get_settings().default_network
    return str(network.resolve_network(connect(), name).id)


@task(name="create-server", task_run_name="create-server-{resource_id}", **cloud_task_options())
def create_server(resource_id: str, boot_ids: BootIds, network_id: str) -> str:
    """The id of the resource's server: the one it already has (a retried or resumed run),
    else a new one. The id is saved at once; the user data row goes with it."""
    logger = get_run_logger()
    view = _live_resource(resource_id)
    site_id = get_settings().site_id
    conn = connect()
    if view.server_id:
        if compute.find_server(conn, view.server_id) is not None:
            logger.info("resource %s: server %s already exists", resource_id, view.server_id)
            return view.server_id
        raise errors.NotFoundError(
            f"server {view.server_id} of this resource vanished from the cloud; "
            "delete the resource and ask for a new one",
            reason=errors.SERVER_NOT_FOUND,
            server_id=view.server_id,
        )
    existing = compute.find_server_for_resource(conn, resource_id, site_id)
    if existing is not None:
        server_id = str(existing.id)
        logger.info(
            "resource %s: adopting server %s made by an earlier run", resource_id, server_id
        )
    else:
        user_data = lifecycle.get_user_data(resource_id=resource_id)  # never logged/returned
        with openstack_slot():
            server = compute.create_server(
                conn,
                resource_id=resource_id,
                site_id=site_id,
                experiment_id=view.experiment_id,
                image_id=boot_ids.image_id,
                flavor_id=boot_ids.flavor_id,
                network_id=network_id,
                user_data=user_data,
            )
        del user_data
        server_id = str(server.id)
        logger.info("resource %s: created server %s", resource_id, server_id)
    if not lifecycle.record_server_id(resource_id=resource_id, server_id=server_id):
        logger.info("resource %s is being deleted: removing server %s", resource_id, server_id)
        compute.delete_server(conn, server_id, ignore_missing=True)
        raise Superseded(resource_id)
    return server_id


@task(name="wait-for-active", task_run_name="wait-for-active-{resource_id}", **cloud_task_options())
def wait_for_active(resource_id: str, server_id: str) -> str | None:
    """Wait until the server is ACTIVE; returns its private IPv4 (ERROR and timeout: final)."""
    server = compute.wait_for_active(
        connect(),
        server_id,
        timeout=get_settings().server_active_timeout_seconds,
        interval=POLL_INTERVAL_SECONDS,
    )
    return compute.server_addresses(server)[0]


@task(
    name="record-addresses", task_run_name="record-addresses-{resource_id}", **cloud_task_options()
)
def record_addresses(
    resource_id: str, server_id: str, network_id: str, private_ipv4: str | None
) -> None:
    """Give the server a floating IP when `public_ipv4` asks for one; mark the resource active."""
    logger = get_run_logger()
    view = _live_resource(resource_id)
    conn = connect()
    public: str | None = None
    if view.public_ipv4:
        external = network.get_external_network(conn, get_settings().external_network)
        fip = network.create_floating_ip_for_server(
            conn,
            server_id,
            external,
            port_network_id=network_id,
            description=network.floating_ip_description(resource_id),
        )
        public = fip.floating_ip_address
        if not lifecycle.record_floating_ip(
            resource_id=resource_id, floating_ip_id=str(fip.id), address=public
        ):
            network.delete_floating_ip(conn, str(fip.id))
            raise Superseded(resource_id)
        logger.info("resource %s: floating IP %s", resource_id, fip.id)
    if private_ipv4 is None:
        private_ipv4 = compute.server_addresses(compute.get_server(conn, server_id))[0]
    if not lifecycle.mark_resource_active(
        resource_id=resource_id, private_ipv4=private_ipv4, public_ipv4_address=public
    ):
        raise Superseded(resource_id)


@task(name="clean-up", task_run_name="clean-up-{resource_id}", **cloud_task_options())
def clean_up(resource_id: str) -> None:
    """Delete the server and floating IP made for a failed resource; wait (bounded) until the
    server is gone."""
    view = flow_queries.get_resource_view(resource_id)
    if view is None or view.status in _GONE:
        return  # the delete flow owns it now
    settings = get_settings()
    conn = connect()
    server_ids = cleanup.release_cloud_resources(conn, view, settings.site_id)
    cleanup.wait_servers_gone(
        conn, server_ids, settings.server_delete_timeout_seconds, POLL_INTERVAL_SECONDS
    )


# --- the flow ----------------------------------------------------------------------------


def _give_up(tracker: StepTracker) -> list[str]:
    """Clean up and mark failed every failed resource; returns the task message lines."""
    logger = get_run_logger()
    futures = {rid: clean_up.submit(rid) for rid in tracker.failures}
    lines: list[str] = []
    for rid, future in futures.items():
        reason, message = describe_failure(tracker.failures[rid])
        future.wait()
        if not future.state.is_completed():
            problem = future.state.result(raise_on_failure=False)
            detail = problem.message if isinstance(problem, errors.CloudError) else "see the logs"
            message += f" (clean-up incomplete: {detail})"
        view = flow_queries.get_resource_view(rid)
        if view is not None and view.status in _GONE:
            tracker.superseded.add(rid)
            continue
        lifecycle.mark_resource_failed(resource_id=rid, reason=reason, message=message)
        label = f"{rid} ({view.friendly_name})" if view else rid
        lines.append(f"{label}: {reason}: {message}")
        logger.warning("resource %s failed: %s", rid, reason)
    return lines


@flow(name=PROVISION_FLOW, flow_run_name="provision-{task_id}", **hooks.TASK_STATE_HOOKS)
def provision_resources(task_id: str) -> dict[str, str]:
    """Provision the VMs of one slices-bi provision task on the site's OpenStack.

    Parameter: `task_id` only; everything else (image, flavor, network, cloud-init user
    data) is read from the slices-bi catalog. Per resource: look up the catalog image and
    flavor in the cloud, resolve the network, create the server (or adopt the one an earlier
    run made), wait until it is ACTIVE, add a floating IP when asked, mark it active.
    Transient cloud errors are retried with backoff; on a final one, what was made is
    deleted and the resource is marked failed with the reason. Returns {resource id: status}.
    """
    view = start_task(task_id, TaskKind.PROVISION)
    if view is None:
        return {}

    resource_ids = list(view.resource_ids)
    tracker = StepTracker(task_id, resource_ids)
    for rid in resource_ids:
        status = lifecycle.start_provisioning(resource_id=rid, task_id=task_id)
        if status == ResourceStatus.ACTIVE:
            tracker.done[rid] = 100
        elif status == ResourceStatus.FAILED:  # an earlier run gave it up: report, clean
            row = flow_queries.get_resource_view(rid)
            tracker.failures[rid] = errors.FinalCloudError(
                row.status_message if row else "failed earlier",
                reason=row.status_reason if row and row.status_reason else "Failed",
            )
            tracker.done[rid] = 100
        elif status != ResourceStatus.PROVISIONING:
            tracker.superseded.add(rid)
            tracker.done[rid] = 100
    tracker.flush()

    boots = tracker.run(
        lookup_catalog, {rid: () for rid in tracker.live() if tracker.done[rid] < 100}
    )
    nets = tracker.run(resolve_network, {rid: () for rid in tracker.live() if rid in boots})
    servers = tracker.run(
        create_server, {rid: (boots[rid], nets[rid]) for rid in tracker.live() if rid in nets}
    )
    ips = tracker.run(
        wait_for_active, {rid: (servers[rid],) for rid in tracker.live() if rid in servers}
    )
    tracker.run(
        record_addresses,
        {rid: (servers[rid], nets[rid], ips[rid]) for rid in tracker.live() if rid in ips},
    )

    lines = _give_up(tracker) if tracker.failures else []
    outcome = {rid: ("failed" if rid in tracker.failures else "active") for rid in resource_ids}
    for rid in tracker.superseded:
        outcome[rid] = "superseded"
    if lines:
        message = f"{len(lines)} of {len(resource_ids)} resource(s) failed: " + "; ".join(lines)
        lifecycle.fail_task(task_id=task_id, message=message)
        raise ProvisionFailed(message)
    active = sum(1 for s in outcome.values() if s == "active")
    lifecycle.finish_task(
        task_id=task_id, message=f"{active} of {len(resource_ids)} resource(s) active"
    )
    return outcome
