"""expiry-cleanup: delete expired resources, and reconcile the cloud with the catalog.

Three steps, each safe to repeat:

1. Expired deletions. Every live resource past its `expires_at` (or its experiment's) gets
   a `delete-resource` run through `request_deletion`, which never opens a second delete
   task for a resource. At most `expiry_cleanup_max_deletions` delete tasks are open at
   once (API deletions included); the rest wait for the next run.
2. Leaks. A server of this site (site tag AND `slices_bi_site` metadata) whose
   `slices_bi_resource` is no live resource is deleted directly, once it is older than
   `leak_grace_seconds` (from its `created_at`). A server without this site's metadata is
   never touched. Safety: while the catalog holds no resource at all (a fresh or wrong
   database), unknown resource ids are not reaped; and at most
   `expiry_cleanup_max_deletions` leaks are removed per run.
3. Vanished servers. An `active` resource whose server is neither in the site listing nor
   found by id is marked `failed` (reason `ServerVanished`), unless the row moved on.

`run_expiry_cleanup()` runs them without Prefect; `expiry_cleanup` is the scheduled flow.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from slices_bi.catalog import reconcile
from slices_bi.catalog.db import session_scope
from slices_bi.catalog.deletion import NotExpired, request_deletion
from slices_bi.catalog.errors import CatalogError
from slices_bi.catalog.reconcile import (
    EXAMPLES,
    CleanupReport,
    DeletionSummary,
    ReconcileSummary,
)
from slices_bi.catalog.repository import LIVE_RESOURCE_STATUSES
from slices_bi.catalog.types import utcnow
from slices_bi.deployments.launcher import Launcher, get_launcher
from slices_bi.deployments.names import EXPIRY_CLEANUP_FLOW
from slices_bi.flows.common import cloud_task_options
from slices_bi.openstack import compute
from slices_bi.openstack.connection import connect
from slices_bi.openstack.errors import CloudError
from slices_bi.settings import Settings, get_settings

REPORT_ARTIFACT_KEY = "expiry-cleanup-report"
Log = logging.Logger | logging.LoggerAdapter[Any]
_module_logger = logging.getLogger(__name__)


def start_expired_deletions(
    settings: Settings, launcher: Launcher, logger: Log = _module_logger
) -> DeletionSummary:
    """Request the deletion of expired resources within the open-deletion budget."""
    summary = DeletionSummary()
    now = utcnow()
    with session_scope(settings) as session:
        summary.open_before = reconcile.count_open_deletions(session)
        budget = max(0, settings.expiry_cleanup_max_deletions - summary.open_before)
        expired = reconcile.list_expired_undeleted(session, now=now, limit=budget + 1)
        summary.more_waiting = len(expired) > budget
        for resource in expired[:budget]:
            previous = resource.delete_task_id
            try:
                task = request_deletion(
                    session,
                    resource_id=resource.id,
                    user_id=None,
                    launcher=launcher,
                    expired_by=now,
                )
            except NotExpired:
                session.rollback()  # extended since it was listed: it stays
                continue
            except CatalogError as exc:
                session.rollback()
                summary.errors += 1
                logger.warning("deletion refused resource_id=%s: %s", resource.id, exc.detail)
                continue
            if task.id == previous:
                continue
            summary.started += 1
            summary.not_submitted += task.flow_run_id is None
            if len(summary.resource_ids) < EXAMPLES:
                summary.resource_ids.append(resource.id)
            logger.info(
                "expired resource deletion started resource_id=%s task_id=%s flow_run_id=%s",
                resource.id,
                task.id,
                task.flow_run_id,
            )
    return summary


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


def run_expiry_cleanup(
    settings: Settings | None = None, launcher: Launcher | None = None
) -> CleanupReport:
    """One expiry cleanup without Prefect's engine (runs still start through `launcher`).

    Raises `CloudError` when the cloud cannot be listed, after the deletions step ran.
    """
    resolved = settings or get_settings()
    report = CleanupReport()
    start = time.perf_counter()
    report.deletions = start_expired_deletions(resolved, launcher or get_launcher())
    report.reconcile = reconcile_cloud(resolved)
    report.duration_seconds = time.perf_counter() - start
    return report


@task(name="start-expired-deletions", cache_policy=NO_CACHE, persist_result=False)
def expired_deletions() -> DeletionSummary:
    """Start delete-resource runs for expired resources, within the open-deletion budget."""
    return start_expired_deletions(get_settings(), get_launcher(), get_run_logger())


@task(name="reconcile-cloud", **cloud_task_options())
def reconcile_site() -> ReconcileSummary:
    """Remove leaked servers of this site; mark active resources whose server vanished."""
    return reconcile_cloud(get_settings(), get_run_logger())


@flow(name=EXPIRY_CLEANUP_FLOW, log_prints=False)
def expiry_cleanup() -> CleanupReport:
    """Delete expired resources and reconcile the site's servers with the catalog.

    Starts a delete-resource run for each expired resource (at most
    `expiry_cleanup_max_deletions` open at once), deletes servers of this site that no live
    resource owns (after `leak_grace_seconds`), and marks active resources whose server
    vanished as failed. The summary is the `expiry-cleanup-report` artifact.
    """
    logger = get_run_logger()
    report = CleanupReport()
    start = time.perf_counter()
    report.deletions = expired_deletions()
    try:
        report.reconcile = reconcile_site()
    except Exception as exc:
        report.reconcile_error = str(exc)
        raise
    finally:
        report.duration_seconds = time.perf_counter() - start
        create_markdown_artifact(
            key=REPORT_ARTIFACT_KEY,
            markdown=report.to_markdown(),
            description="Deletions started, leaked servers removed, vanished servers marked",
        )
        logger.info("expiry cleanup: %s", report.summary())
    return report


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=utcnow().tzinfo)
