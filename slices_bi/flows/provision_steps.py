"""The steps of the `provision-resources` flow, each one Prefect task run for all the
resources of a task (`slices_bi.flows.steps`): lookup-catalog, resolve-network,
create-servers, wait-for-active, record-addresses; discard-servers (a build the cloud
lost) and clean-up (what failed resources left behind).
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect import get_run_logger, task

from slices_bi.catalog import flow_queries, lifecycle, receipts
from slices_bi.catalog.models import ResourceStatus
from slices_bi.catalog.types import utcnow
from slices_bi.flows import cleanup, journal, receipt
from slices_bi.flows.common import Superseded, cloud_task_options
from slices_bi.flows.limits import openstack_slots
from slices_bi.flows.steps import Outcome, for_each
from slices_bi.openstack import compute, errors, lookups, network
from slices_bi.openstack.connection import connect
from slices_bi.openstack.errors import CloudError
from slices_bi.openstack.watch import get_watcher
from slices_bi.settings import get_settings

GONE = (ResourceStatus.DELETING, ResourceStatus.DELETED)
WEIGHTS = {
    "lookup-catalog": 10,
    "resolve-network": 10,
    "pre-flight": 5,
    "create-servers": 25,
    "wait-for-active": 40,
    "record-addresses": 10,
}


@dataclass(frozen=True)
class BootIds:
    """The OpenStack ids a server boots from."""

    image_id: str
    flavor_id: str


def _live_resource(resource_id: str) -> flow_queries.ResourceView:
    view = flow_queries.get_resource_view(resource_id)
    if view is None or view.status in GONE:
        raise Superseded(resource_id)
    return view


# --- steps -------------------------------------------------------------------------------


@task(name="lookup-catalog", **cloud_task_options())
def lookup_catalog(resource_ids: list[str]) -> Outcome:
    """The Glance image id and Nova flavor id of each resource's catalog image and flavor."""
    conn = connect()

    def one(resource_id: str) -> BootIds:
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
        image = lookups.image_id(
            conn, source.image_location, label=source.image_label, catalog_id=source.image_id
        )
        flavor = lookups.flavor_id(
            conn, source.flavor_location, label=source.flavor_label, catalog_id=source.flavor_id
        )
        return BootIds(image_id=image, flavor_id=flavor)

    return for_each(one, resource_ids)


@task(name="resolve-network", **cloud_task_options())
def resolve_network(resource_ids: list[str]) -> Outcome:
    """The id of the network each resource boots on (its `network_name`, else the default)."""
    conn, default = connect(), get_settings().default_network
    return for_each(
        lambda rid: lookups.network_id(conn, _live_resource(rid).network_name or default),
        resource_ids,
    )


@task(name="create-servers", **cloud_task_options())
def create_servers(
    resource_ids: list[str], boots: dict[str, BootIds], networks: dict[str, str]
) -> Outcome:
    """The id of each resource's server: the one it already has (a retried or resumed run),
    else a new one. Each id is saved the moment Nova answers; the user data row goes too."""
    logger = get_run_logger()
    settings = get_settings()
    conn = connect()

    def one(resource_id: str) -> str:
        view = _live_resource(resource_id)
        if view.server_id and compute.find_server(conn, view.server_id) is not None:
            return view.server_id
        existing = compute.find_server_for_resource(conn, resource_id, settings.site_id)
        if existing is not None:
            server_id = str(existing.id)
            logger.info("resource %s: adopting server %s of an earlier run", resource_id, server_id)
        else:
            payload = lifecycle.get_user_data(resource_id=resource_id)  # never logged
            receipts.note_user_data_hash(
                resource_id=resource_id, sha256=receipt.payload_sha256(payload)
            )
            server = compute.create_server(
                conn,
                resource_id=resource_id,
                site_id=settings.site_id,
                experiment_id=view.experiment_id,
                image_id=boots[resource_id].image_id,
                flavor_id=boots[resource_id].flavor_id,
                network_id=networks[resource_id],
                user_data=payload,
            )
            server_id = str(server.id)
            logger.info("resource %s: created server %s", resource_id, server_id)
        if not lifecycle.record_server_id(resource_id=resource_id, server_id=server_id):
            logger.info("resource %s is being deleted: removing server %s", resource_id, server_id)
            compute.delete_server(conn, server_id, ignore_missing=True)
            raise Superseded(resource_id)
        return server_id

    with openstack_slots(len(resource_ids)) as slots:
        return for_each(one, resource_ids, threads=slots)


@task(name="wait-for-active", **cloud_task_options())
def wait_for_active(task_id: str, servers: dict[str, str]) -> Outcome:
    """Wait until every server is ACTIVE; each resource's private IPv4 (ERROR, vanished and
    timeout are final for that resource)."""
    settings = get_settings()
    watcher, started = get_watcher(connect, settings.site_id), utcnow()
    seen = watcher.wait(
        servers.values(),
        "active",
        timeout=settings.server_active_timeout_seconds,
        on_tick=lambda: lifecycle.touch_task(task_id=task_id),
    )
    outcome = Outcome()
    for resource_id, server_id in servers.items():
        result = seen.get(server_id)
        if isinstance(result, BaseException):
            outcome.failed[resource_id] = result
        else:
            outcome.done[resource_id] = compute.server_addresses(result)[0] if result else None
            journal.note(resource_id, "wait-for-active", started)
    return outcome


@task(name="record-addresses", **cloud_task_options())
def record_addresses(
    servers: dict[str, str], networks: dict[str, str], private: dict[str, str | None]
) -> Outcome:
    """Give a floating IP to the servers whose resource asks for one; mark them active."""
    settings = get_settings()
    conn = connect()

    def one(resource_id: str) -> str:
        view = _live_resource(resource_id)
        server_id, public = servers[resource_id], None
        if view.public_ipv4:
            external = network.get_external_network(conn, settings.external_network)
            fip = network.create_floating_ip_for_server(
                conn,
                server_id,
                external,
                port_network_id=networks[resource_id],
                description=network.floating_ip_description(resource_id),
            )
            public = fip.floating_ip_address
            if not lifecycle.record_floating_ip(
                resource_id=resource_id, floating_ip_id=str(fip.id), address=public
            ):
                network.delete_floating_ip(conn, str(fip.id))
                raise Superseded(resource_id)
        address = private.get(resource_id)
        if address is None:
            address = compute.server_addresses(compute.get_server(conn, server_id))[0]
        if not lifecycle.mark_resource_active(
            resource_id=resource_id, private_ipv4=address, public_ipv4_address=public
        ):
            raise Superseded(resource_id)
        written = receipt.record(conn, view, server_id, networks[resource_id])
        if written is not None:
            made.append(written)
        return server_id

    made: list[receipt.Receipt] = []
    try:
        return for_each(one, list(servers))
    finally:
        receipt.publish(made)


@task(name="discard-servers", **cloud_task_options())
def discard_servers(servers: dict[str, str]) -> Outcome:
    """Delete servers whose build the cloud lost, so that a new one can be made."""
    conn = connect()

    def one(resource_id: str) -> None:
        compute.delete_server(conn, servers[resource_id], ignore_missing=True)
        lifecycle.forget_server_id(resource_id=resource_id, server_id=servers[resource_id])

    return for_each(one, list(servers))


@task(name="clean-up", **cloud_task_options())
def clean_up(task_id: str, resource_ids: list[str]) -> Outcome:
    """Delete the servers and floating IPs made for failed resources; wait (bounded) until
    the servers are gone."""
    settings = get_settings()
    conn = connect()
    released: dict[str, list[str]] = {}

    def one(resource_id: str) -> None:
        view = flow_queries.get_resource_view(resource_id)
        if view is not None and view.status not in GONE:
            released[resource_id] = cleanup.release_cloud_resources(conn, view, settings.site_id)

    outcome = for_each(one, resource_ids)
    gone = get_watcher(connect, settings.site_id).wait(
        [sid for sids in released.values() for sid in sids],
        "gone",
        timeout=settings.server_delete_timeout_seconds,
        on_tick=lambda: lifecycle.touch_task(task_id=task_id),
    )
    for resource_id, server_ids in released.items():
        problems = [e for e in (gone.get(s) for s in server_ids) if isinstance(e, CloudError)]
        if problems:
            outcome.failed[resource_id] = problems[0]
    return outcome
