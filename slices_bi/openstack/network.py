"""Neutron: networks a server boots on, and the floating IPs slices-bi gives servers.

Same contract as openstacksdk: `get_*`/`resolve_*` raise, `find_*` return None,
`delete_*(..., ignore_missing=True)` are idempotent. Every function raises only
`CloudError` subclasses (see `slices_bi.openstack.errors`).

Floating IPs made by slices-bi carry the description `slices-bi <resource id>`
(`floating_ip_description`), so a clean-up can tell them from any other.
"""

from __future__ import annotations

import uuid

from openstack import exceptions as sdk_exc
from openstack.connection import Connection
from openstack.network.v2.floating_ip import FloatingIP
from openstack.network.v2.network import Network
from openstack.network.v2.port import Port

from slices_bi.openstack import errors
from slices_bi.openstack.errors import AmbiguousError, NotFoundError, cloud_call

FLOATING_IP_DESCRIPTION_PREFIX = "slices-bi "


def floating_ip_description(resource_id: str) -> str:
    """The description of the floating IP slices-bi makes for `resource_id`."""
    return f"{FLOATING_IP_DESCRIPTION_PREFIX}{resource_id}"


def _looks_like_id(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def find_network(conn: Connection, name_or_id: str) -> Network | None:
    """The network with id or name `name_or_id`, or None.

    A UUID-looking value is tried as an id first (one GET); names are looked up with one
    filtered listing. Raises `AmbiguousError` (reason NetworkAmbiguous) when several
    networks carry the name.
    """
    with cloud_call(network=name_or_id):
        if _looks_like_id(name_or_id):
            try:
                return conn.network.get_network(name_or_id)
            except sdk_exc.NotFoundException:
                pass
        matches = [n for n in conn.network.networks(name=name_or_id) if n.name == name_or_id]
    if len(matches) > 1:
        raise AmbiguousError(
            f"{len(matches)} networks are named '{name_or_id}'; ask for one by its id",
            reason=errors.NETWORK_AMBIGUOUS,
            network=name_or_id,
        )
    return matches[0] if matches else None


def resolve_network(conn: Connection, name_or_id: str) -> Network:
    """The network with id or name `name_or_id`.

    Raises `NotFoundError` (reason NetworkNotFound) or `AmbiguousError` (NetworkAmbiguous).
    """
    network = find_network(conn, name_or_id)
    if network is None:
        raise NotFoundError(
            f"network '{name_or_id}' does not exist in the cloud",
            reason=errors.NETWORK_NOT_FOUND,
            network=name_or_id,
        )
    return network


def find_external_network(conn: Connection, name_or_id: str | None = None) -> Network | None:
    """The external network (router:external) `name_or_id`, or the only one when None.

    Returns None when the named network is missing or not external, or when no name is
    given and there is not exactly one external network.
    """
    if name_or_id:
        network = find_network(conn, name_or_id)
        return network if network is not None and network.is_router_external else None
    with cloud_call():
        externals = list(conn.network.networks(is_router_external=True))
    return externals[0] if len(externals) == 1 else None


def get_external_network(conn: Connection, name_or_id: str | None = None) -> Network:
    """Like `find_external_network`, but raises `NotFoundError` (reason NetworkNotFound)."""
    network = find_external_network(conn, name_or_id)
    if network is None:
        raise NotFoundError(
            f"external network '{name_or_id or '(the only one)'}' for floating IPs does not "
            "exist in the cloud; an operator must fix the setting external_network",
            reason=errors.NETWORK_NOT_FOUND,
            network=name_or_id,
        )
    return network


def server_ports(conn: Connection, server_id: str, network_id: str | None = None) -> list[Port]:
    """The ports bound to `server_id` (on `network_id` when given)."""
    query = {"device_id": server_id}
    if network_id:
        query["network_id"] = network_id
    with cloud_call(server_id=server_id):
        return list(conn.network.ports(**query))


def floating_ips_for_server(
    conn: Connection, server_id: str, *, description: str | None = None
) -> list[FloatingIP]:
    """The floating IPs bound to a port of `server_id` (with `description`, when given)."""
    found: list[FloatingIP] = []
    for port in server_ports(conn, server_id):
        with cloud_call(server_id=server_id, port_id=port.id):
            found.extend(
                fip
                for fip in conn.network.ips(port_id=port.id)
                if description is None or fip.description == description
            )
    return found


def create_floating_ip_for_server(
    conn: Connection,
    server_id: str,
    network: Network | str,
    *,
    port_network_id: str | None = None,
    description: str = "",
) -> FloatingIP:
    """A floating IP from external `network` bound to `server_id`'s port; returns it.

    The port is the server's port on `port_network_id` (its first port when None). When
    that port already has a floating IP, that one is returned (a retried call makes no
    second). Raises `NotFoundError` when the server has no port, `QuotaExceededError`, ...
    """
    network_id = network if isinstance(network, str) else str(network.id)
    ports = server_ports(conn, server_id, port_network_id)
    if not ports:
        raise NotFoundError(
            f"server {server_id} has no port"
            + (f" on network {port_network_id}" if port_network_id else ""),
            server_id=server_id,
        )
    port = ports[0]
    with cloud_call(server_id=server_id, port_id=port.id):
        existing = list(conn.network.ips(port_id=port.id))
        if existing:
            return existing[0]
        return conn.network.create_ip(
            floating_network_id=network_id, port_id=port.id, description=description
        )


def delete_floating_ip(conn: Connection, floating_ip_id: str, ignore_missing: bool = True) -> bool:
    """Release `floating_ip_id`; True when it was deleted, False when it was already gone.

    Raises `NotFoundError` only when `ignore_missing` is False.
    """
    with cloud_call(floating_ip_id=floating_ip_id):
        try:
            conn.network.delete_ip(floating_ip_id, ignore_missing=False)
        except sdk_exc.NotFoundException:
            if ignore_missing:
                return False
            raise
    return True
