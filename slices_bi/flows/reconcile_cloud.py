"""expiry-cleanup's reconciliation of the cloud with the catalog.

Leaks: a server of this site (site tag AND `slices_bi_site` metadata) whose
`slices_bi_resource` is no live resource is deleted directly, once it is older than
`leak_grace_seconds` (from its `created_at`). A server without this site's metadata is
never touched. Safety: while the catalog holds no resource at all (a fresh or wrong
database), unknown resource ids are not reaped; and at most `expiry_cleanup_max_deletions`
leaks are removed per run.

Vanished servers: an `active` resource whose server is neither in the site listing nor
found by id is marked `failed` (reason `ServerVanished`), unless the row moved on.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from slices_bi.catalog import reconcile
from slices_bi.catalog.db import session_scope
from slices_bi.catalog.reconcile import EXAMPLES, ReconcileSummary
from slices_bi.catalog.repository import LIVE_RESOURCE_STATUSES
from slices_bi.catalog.types import utcnow
from slices_bi.openstack import compute
from slices_bi.openstack.connection import connect
from slices_bi.openstack.errors import CloudError
from slices_bi.settings import Settings

Log = logging.Logger | logging.LoggerAdapter[Any]
_module_logger = logging.getLogger(__name__)


def reconcile_cloud(settings: Settings, logger: Log = _module_logger) -> ReconcileSummary:
    """Remove leaked servers of this site and mark active resources whose server vanished.

    Raises `CloudError` when the site's servers cannot be listed (nothing is changed then).
    """
    summary = ReconcileSummary()
    conn = connect(settings)
    servers = compute.list_site_servers(conn, settings.site_id)
    summary.site_servers = len(servers)
    # Read the catalog after listing: a server listed above already has its resource row
    # (rows are written before servers are made), so "not live" here really means a leak.
    owners = {s.id: (s.metadata or {}).get(compute.META_RESOURCE) for s in servers}
    with session_scope(settings) as session:
        statuses = reconcile.resource_statuses(session, [rid for rid in owners.values() if rid])
        catalog_empty = not reconcile.has_resources(session)
        active = reconcile.list_active_with_server(session)

    now = utcnow()
    grace = timedelta(seconds=settings.leak_grace_seconds)
    server_of_active = dict(active)
    for server in servers:
        resource_id = owners[server.id]
        status = statuses.get(resource_id or "")
        # A second server of an active resource (a retried create) is a leak too.
        saved = server_of_active.get(resource_id or "")
        duplicate = saved is not None and saved != server.id
        owned = status in LIVE_RESOURCE_STATUSES and not duplicate
        if owned or not compute.is_site_server(server, settings.site_id):
            continue
        created = _parse_time(server.created_at)
        if created is None or now - created < grace:
            summary.leaks_in_grace += 1
            continue
        if catalog_empty or summary.leaks_removed >= settings.expiry_cleanup_max_deletions:
            summary.leaks_held += 1
            continue
        try:
            compute.delete_server(conn, server.id, ignore_missing=True)
        except CloudError as exc:
            if exc.transient:
                raise  # the whole step is retried; what was done is done
            summary.leak_errors += 1  # e.g. a locked server: the others still go
            logger.warning("leaked server not deleted server_id=%s: %s", server.id, exc)
            continue
        summary.leaks_removed += 1
        if len(summary.removed_server_ids) < EXAMPLES:
            summary.removed_server_ids.append(server.id)
        logger.warning(
            "leaked server deleted server_id=%s resource_id=%s resource_status=%s",
            server.id,
            resource_id,
            status.value if status else "unknown",
        )

    listed = set(owners)
    for resource_id, server_id in active:
        if server_id in listed:
            continue
        found = compute.find_server(conn, server_id)
        if found is not None and (found.status or "").upper() not in ("DELETED", "SOFT_DELETED"):
            continue
        with session_scope(settings) as session:
            marked = reconcile.mark_server_vanished(
                session, resource_id=resource_id, server_id=server_id, now=utcnow()
            )
        if marked:
            summary.vanished_marked += 1
            if len(summary.vanished_resource_ids) < EXAMPLES:
                summary.vanished_resource_ids.append(resource_id)
            logger.warning(
                "active resource lost its server resource_id=%s server_id=%s",
                resource_id,
                server_id,
            )
    return summary


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=utcnow().tzinfo)
