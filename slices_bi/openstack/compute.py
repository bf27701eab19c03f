"""Nova (and the Glance look-up a boot needs), following openstacksdk's contract.

`get_*` raise `NotFoundError`, `find_*` return None, `delete_*(..., ignore_missing=True)`
are idempotent, `wait_for_*(..., timeout, interval)` poll. Every function raises only
`CloudError` subclasses (see `slices_bi.openstack.errors`).

Servers made by slices-bi are named with the resource id (deterministic and unique), and
carry the metadata `{"slices_bi_site", "slices_bi_resource", "slices_bi_experiment"}` plus
the tag `slices-bi-site:<site>`. That is how a retried run finds the server it already
made, and how the leak reconciler finds every server of this site (`list_site_servers`).
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterable

from openstack import exceptions as sdk_exc
from openstack.compute.v2.server import Server
from openstack.connection import Connection

from slices_bi.openstack import errors
from slices_bi.openstack.errors import (
    NotFoundError,
    ServerFailedError,
    ServerTimeoutError,
    cloud_call,
)

META_SITE = "slices_bi_site"
META_RESOURCE = "slices_bi_resource"
META_EXPERIMENT = "slices_bi_experiment"
SITE_TAG_PREFIX = "slices-bi-site:"
MAX_TAG_LENGTH = 60  # Nova's limit on one server tag

FIRST_POLL_SECONDS = 0.25  # polls start fast and slow down to `interval`


def site_tag(site_id: str) -> str:
    """The Nova tag every server of `site_id` carries; ValueError when longer than 60 chars."""
    tag = f"{SITE_TAG_PREFIX}{site_id}"
    if len(tag) > MAX_TAG_LENGTH or "/" in tag or "," in tag:
        raise ValueError(f"site id {site_id!r} gives an invalid Nova tag {tag!r}")
    return tag


def is_site_server(server: Server, site_id: str, resource_id: str | None = None) -> bool:
    """True when `server` carries this site's metadata (and `resource_id`'s, when given)."""
    meta = server.metadata or {}
    if meta.get(META_SITE) != site_id:
        return False
    if resource_id is None:
        return True
    return server.name == resource_id and meta.get(META_RESOURCE) == resource_id


# --- servers -----------------------------------------------------------------------------


def get_server(conn: Connection, server_id: str) -> Server:
    """The server `server_id`; raises `NotFoundError` (reason ServerNotFound)."""
    try:
        with cloud_call(server_id=server_id):
            return conn.compute.get_server(server_id)
    except NotFoundError as exc:
        exc.reason = errors.SERVER_NOT_FOUND
        raise


def find_server(conn: Connection, server_id: str) -> Server | None:
    """The server `server_id`, or None when it does not exist (any more)."""
    try:
        return get_server(conn, server_id)
    except NotFoundError:
        return None


def find_servers_for_resource(conn: Connection, resource_id: str, site_id: str) -> list[Server]:
    """Every server made for `resource_id` on this site, oldest first (normally 0 or 1).

    Asks Nova by exact name (Nova's name filter is a regex) and site tag, then keeps only
    servers whose metadata names this site and resource.
    """
    with cloud_call(resource_id=resource_id):
        found = conn.compute.servers(name=f"^{re.escape(resource_id)}$", tags=site_tag(site_id))
        matches = [s for s in found if is_site_server(s, site_id, resource_id)]
    return sorted(matches, key=lambda s: (s.created_at or "", s.id))


def find_server_for_resource(conn: Connection, resource_id: str, site_id: str) -> Server | None:
    """The (oldest) server made for `resource_id` on this site that may still become ACTIVE
    (not in ERROR, not deleted or being deleted), or None."""
    for server in find_servers_for_resource(conn, resource_id, site_id):
        state = (server.status or "").upper()
        if state not in ("ERROR", "DELETED", "SOFT_DELETED") and server.task_state != "deleting":
            return server
    return None


def list_site_servers(conn: Connection, site_id: str) -> list[Server]:
    """Every server of this site: tagged `slices-bi-site:<site>` AND with our site metadata.

    For the leak reconciler: each server's `metadata["slices_bi_resource"]` names the
    resource that owns it (the server name is the same id); a server whose resource is not
    live (or does not exist) is a leak. Servers of other sites or made by hand are left out.
    Raises `CloudError`.
    """
    with cloud_call(site_id=site_id):
        return [
            s for s in conn.compute.servers(tags=site_tag(site_id)) if is_site_server(s, site_id)
        ]


def create_server(
    conn: Connection,
    *,
    resource_id: str,
    site_id: str,
    experiment_id: str,
    image_id: str,
    flavor_id: str,
    network_id: str,
    user_data: str | None = None,
) -> Server:
    """Ask Nova for a server for `resource_id`; returns it in BUILD (not waiting).

    `user_data` is the plain cloud-init payload; it is base64-encoded here. Raises
    `QuotaExceededError` (403 with Nova's message), `FinalCloudError` for other refusals,
    `TransientCloudError` when the cloud did not answer - in that case the server may or
    may not exist: call `find_server_for_resource` before trying again.
    """
    attrs: dict[str, object] = {
        "name": resource_id,
        "image_id": image_id,
        "flavor_id": flavor_id,
        "networks": [{"uuid": network_id}],
        "metadata": {
            META_SITE: site_id,
            META_RESOURCE: resource_id,
            META_EXPERIMENT: experiment_id,
        },
        "tags": [site_tag(site_id)],
    }
    if user_data:
        attrs["user_data"] = base64.b64encode(user_data.encode()).decode("ascii")
    with cloud_call(resource_id=resource_id):
        return conn.compute.create_server(**attrs)


def build_failure(server: Server | None, server_id: str) -> ServerFailedError:
    """The error of a server that went to ERROR, worded for the person who asked for it.

    Without a fault, Nova lost the build on its side (seen when a compute service restarts
    mid-build): the error says so and allows one more try on a new server
    (`retry_on_new_server`). With a fault, the fault is the reason and is final.
    """
    fault = (server.fault if server is not None else None) or {}
    message = str(fault.get("message") or "").strip() if isinstance(fault, dict) else ""
    if not message:
        return ServerFailedError(
            f"the cloud stopped building server {server_id} without giving a reason "
            "(this happens when a compute node restarts during the build)",
            reason=errors.SERVER_BUILD_INTERRUPTED,
            server_id=server_id,
            retry_on_new_server=True,
        )
    if "no valid host" in message.lower():
        message += (
            " (no compute node can take this flavor now: choose a smaller flavor or try later)"
        )
    return ServerFailedError(f"server {server_id} went to ERROR: {message}", server_id=server_id)


def _poll_delays(interval: float) -> Iterable[float]:
    delay = min(FIRST_POLL_SECONDS, interval)
    while True:
        yield delay
        delay = min(delay * 1.6, interval)


def wait_for_active(
    conn: Connection, server_id: str, timeout: float, interval: float = 5.0
) -> Server:
    """Poll until `server_id` is ACTIVE; returns it.

    Raises `ServerFailedError` (reason ServerError, Nova's fault message) when it goes to
    ERROR, `NotFoundError` when it disappears, `ServerTimeoutError` (ServerBuildTimeout)
    after `timeout` seconds. A transient error on the last poll is raised as is.
    """
    deadline = time.monotonic() + timeout
    last_transient: errors.CloudError | None = None
    for delay in _poll_delays(interval):
        try:
            server = get_server(conn, server_id)
            last_transient = None
        except errors.TransientCloudError as exc:
            last_transient = exc
        else:
            status = (server.status or "").upper()
            if status == "ACTIVE":
                return server
            if status == "ERROR":
                raise build_failure(server, server_id)
            if status in ("DELETED", "SOFT_DELETED", "SHELVED_OFFLOADED"):
                raise NotFoundError(
                    f"server {server_id} is {status}",
                    reason=errors.SERVER_NOT_FOUND,
                    server_id=server_id,
                )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(delay, remaining))
    if last_transient is not None:
        raise last_transient
    raise ServerTimeoutError(
        f"server {server_id} did not become ACTIVE within {timeout:g} s",
        server_id=server_id,
    )


def delete_server(conn: Connection, server_id: str, ignore_missing: bool = True) -> bool:
    """Ask Nova to delete `server_id`; True when a delete was issued, False when it was gone.

    Raises `NotFoundError` only when `ignore_missing` is False.
    """
    with cloud_call(server_id=server_id):
        try:
            conn.compute.delete_server(server_id, ignore_missing=False)
        except sdk_exc.NotFoundException:
            if ignore_missing:
                return False
            raise
    return True


def wait_for_server_gone(
    conn: Connection, server_id: str, timeout: float, interval: float = 5.0
) -> None:
    """Poll until `server_id` no longer exists; raises `ServerTimeoutError`
    (reason ServerDeleteTimeout) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_transient: errors.CloudError | None = None
    for delay in _poll_delays(interval):
        try:
            server = find_server(conn, server_id)
            last_transient = None
            if server is None or (server.status or "").upper() == "DELETED":
                return
        except errors.TransientCloudError as exc:
            last_transient = exc
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(delay, remaining))
    if last_transient is not None:
        raise last_transient
    raise ServerTimeoutError(
        f"server {server_id} was still there {timeout:g} s after its deletion",
        reason=errors.SERVER_DELETE_TIMEOUT,
        server_id=server_id,
    )


def server_addresses(server: Server) -> tuple[str | None, str | None]:
    """(first fixed IPv4, first floating IPv4) of `server`'s `addresses`, None when absent."""
    fixed: str | None = None
    floating: str | None = None
    for entries in (server.addresses or {}).values():
        for entry in entries or []:
            if entry.get("version") not in (4, "4", None):
                continue
            kind = entry.get("OS-EXT-IPS:type", "fixed")
            if kind == "floating":
                floating = floating or entry.get("addr")
            else:
                fixed = fixed or entry.get("addr")
    return fixed, floating


__all__ = [
    "META_EXPERIMENT",
    "META_RESOURCE",
    "META_SITE",
    "build_failure",
    "create_server",
    "delete_server",
    "find_server",
    "find_server_for_resource",
    "find_servers_for_resource",
    "get_server",
    "is_site_server",
    "list_site_servers",
    "server_addresses",
    "site_tag",
    "wait_for_active",
    "wait_for_server_gone",
]
