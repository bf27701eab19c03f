"""Removing what slices-bi made in the cloud for one resource (server, floating IP).

Shared by the delete flow, the failure path of the provision flow and the flow hooks
(crash, cancellation). Plain functions: the callers wrap them in Prefect tasks (with
retries) or call them from hooks. Ports that Nova created for a server go with it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from openstack.connection import Connection

from slices_bi.catalog import lifecycle
from slices_bi.catalog.flow_queries import ResourceView, get_resource_views
from slices_bi.catalog.models import ResourceStatus
from slices_bi.openstack import compute, network
from slices_bi.openstack.errors import CloudError


def release_cloud_resources(conn: Connection, resource: ResourceView, site_id: str) -> list[str]:
    """Delete the floating IP(s) and server(s) of `resource`; returns the ids of the servers
    whose deletion was asked for (to wait on). Idempotent: what is gone counts as done.

    Servers: the saved `server_id` and every one found by name/tag/metadata (a run that
    died before saving the id, or a duplicate from a retried create). Floating IPs: the
    saved one, plus, for `public_ipv4` resources, those carrying our description on the
    server's ports. Raises `CloudError`.
    """
    # The saved id and whatever carries the resource's name and metadata: a create that
    # timed out in transit and was retried can leave a second server behind.
    server_ids: list[str] = [resource.server_id] if resource.server_id else []
    for server in compute.find_servers_for_resource(conn, resource.id, site_id):
        if str(server.id) not in server_ids:
            server_ids.append(str(server.id))

    fip_ids: list[str] = [resource.floating_ip_id] if resource.floating_ip_id else []
    if resource.public_ipv4:
        ours = network.floating_ip_description(resource.id)
        for server_id in server_ids:
            for fip in network.floating_ips_for_server(conn, server_id, description=ours):
                if fip.id not in fip_ids:
                    fip_ids.append(str(fip.id))
    for fip_id in fip_ids:
        network.delete_floating_ip(conn, fip_id, ignore_missing=True)

    return [sid for sid in server_ids if compute.delete_server(conn, sid, ignore_missing=True)]


def wait_servers_gone(
    conn: Connection, server_ids: Iterable[str], timeout: float, interval: float
) -> None:
    """Wait until every server of `server_ids` is gone, all within one `timeout`.

    Raises `ServerTimeoutError` (reason ServerDeleteTimeout) or another `CloudError`.
    """
    deadline = time.monotonic() + timeout
    for server_id in server_ids:
        remaining = max(deadline - time.monotonic(), 0.0)
        compute.wait_for_server_gone(conn, server_id, timeout=remaining, interval=interval)


def give_up_unfinished(
    conn: Connection | None,
    *,
    resource_ids: Iterable[str],
    site_id: str,
    reason: str,
    message: str,
) -> list[str]:
    """For a provision that stopped without finishing (crash, cancellation, bug): delete what
    was made for every resource still pending/provisioning and mark it failed.

    Does not wait for the servers to go (the reconciler is the safety net). Never raises on
    cloud errors: they are added to the message (`conn` None: the cloud could not be
    reached). Returns the ids of the resources given up.
    """
    given_up: list[str] = []
    for resource in get_resource_views(list(resource_ids)):
        if resource.status not in (ResourceStatus.PENDING, ResourceStatus.PROVISIONING):
            continue
        text = message
        if conn is None:
            text = f"{message} (clean-up incomplete: the cloud could not be reached)"
        else:
            try:
                release_cloud_resources(conn, resource, site_id)
            except CloudError as exc:
                text = f"{message} (clean-up incomplete: {exc.message})"
        if lifecycle.mark_resource_failed(resource_id=resource.id, reason=reason, message=text):
            given_up.append(resource.id)
    return given_up
