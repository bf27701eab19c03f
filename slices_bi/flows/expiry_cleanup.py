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
from pydantic import BaseModel, Field

from slices_bi.catalog import reconcile
from slices_bi.catalog.db import session_scope
from slices_bi.catalog.deletion import request_deletion
from slices_bi.catalog.errors import CatalogError
from slices_bi.catalog.repository import LIVE_RESOURCE_STATUSES
from slices_bi.catalog.types import utcnow
from slices_bi.deployments.launcher import Launcher, get_launcher
from slices_bi.deployments.names import EXPIRY_CLEANUP_FLOW
from slices_bi.flows.catalog_sync import retry_if_transient
from slices_bi.openstack import compute
from slices_bi.openstack.connection import connect
from slices_bi.settings import Settings, get_settings

REPORT_ARTIFACT_KEY = "expiry-cleanup-report"
EXAMPLES = 10
Log = logging.Logger | logging.LoggerAdapter[Any]
_module_logger = logging.getLogger(__name__)


class DeletionSummary(BaseModel):
    """Step 1: deletions of expired resources."""

    open_before: int = 0
    started: int = 0
    not_submitted: int = 0  # task created, Prefect unreachable: the sweep submits it later
    errors: int = 0
    more_waiting: bool = False  # more expired resources than the budget allowed
    resource_ids: list[str] = Field(default_factory=list)


class ReconcileSummary(BaseModel):
    """Steps 2 and 3: the site's servers against the catalog."""

    site_servers: int = 0
    leaks_removed: int = 0
    leaks_in_grace: int = 0
    leaks_held: int = 0  # not removed: empty catalog or per-run cap
    vanished_marked: int = 0
    removed_server_ids: list[str] = Field(default_factory=list)
    vanished_resource_ids: list[str] = Field(default_factory=list)


class CleanupReport(BaseModel):
    """The result of one expiry-cleanup run (flow result, artifact, CLI output)."""

    started_at: datetime = Field(default_factory=utcnow)
    duration_seconds: float = 0.0
    deletions: DeletionSummary = Field(default_factory=DeletionSummary)
    reconcile: ReconcileSummary = Field(default_factory=ReconcileSummary)
    reconcile_error: str | None = None

    def summary(self) -> str:
        """One line for logs and the CLI."""
        d, r = self.deletions, self.reconcile
        text = (
            f"{d.started} deletion(s) started ({d.open_before} open before, "
            f"{d.not_submitted} not yet submitted, {d.errors} error(s)"
            f"{', more waiting' if d.more_waiting else ''}); "
            f"{r.leaks_removed} leaked server(s) removed ({r.leaks_in_grace} in grace, "
            f"{r.leaks_held} held); {r.vanished_marked} vanished server(s) marked"
        )
        return text + (
            f"; reconcile failed: {self.reconcile_error}" if self.reconcile_error else ""
        )

    def to_markdown(self) -> str:
        """The summary artifact of a run."""
        d, r = self.deletions, self.reconcile
        rows = [
            ("deletions started", d.started, d.resource_ids),
            ("  of which not yet submitted to Prefect", d.not_submitted, []),
            ("deletion requests refused", d.errors, []),
            ("leaked servers removed", r.leaks_removed, r.removed_server_ids),
            ("leaked servers still in grace", r.leaks_in_grace, []),
            ("leaked servers held back", r.leaks_held, []),
            ("vanished servers marked failed", r.vanished_marked, r.vanished_resource_ids),
        ]
        lines = [
            f"# Expiry cleanup {self.started_at:%Y-%m-%d %H:%M:%S} UTC",
            "",
            "| | count | ids (first few) |",
            "|---|---:|---|",
        ]
        lines += [f"| {label} | {n} | {', '.join(ids)} |" for label, n, ids in rows]
        lines += [
            "",
            f"{d.open_before} delete task(s) were open; the site has {r.site_servers} server(s).",
        ]
        if d.more_waiting:
            lines.append("More expired resources wait for a free deletion slot.")
        if self.reconcile_error:
            lines.append(f"Reconciliation failed: {self.reconcile_error}")
        return "\n".join(lines) + "\n"


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
                    session, resource_id=resource.id, user_id=None, launcher=launcher
                )
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
    for server in servers:
        resource_id = owners[server.id]
        status = statuses.get(resource_id or "")
        if status in LIVE_RESOURCE_STATUSES or not compute.is_site_server(server, settings.site_id):
            continue
        created = _parse_time(server.created_at)
        if created is None or now - created < grace:
            summary.leaks_in_grace += 1
            continue
        if catalog_empty or summary.leaks_removed >= settings.expiry_cleanup_max_deletions:
            summary.leaks_held += 1
            continue
        compute.delete_server(conn, server.id, ignore_missing=True)
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


@task(name="start-expired-deletions", cache_policy=NO_CACHE)
def expired_deletions() -> DeletionSummary:
    """Start delete-resource runs for expired resources, within the open-deletion budget."""
    return start_expired_deletions(get_settings(), get_launcher(), get_run_logger())


@task(
    name="reconcile-cloud",
    retries=2,
    retry_delay_seconds=[5, 20],
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_if_transient,
    cache_policy=NO_CACHE,
)
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
