"""expiry-cleanup: delete expired resources, resume stuck deletions, and reconcile the
cloud with the catalog.

Steps, each safe to repeat:

1. Deletions. A `deleting` resource whose deletion stopped (its task failed on errors that
   outlasted the retries, or its run died) gets a fresh delete task; then every live
   resource past its `expires_at` (or its experiment's) gets one. Deletions of one
   experiment share a task (`request_deletion` joins a pending one), and the runs start
   once all are requested. At most `expiry_cleanup_max_deletions` resources are being
   deleted at once (API deletions included); the rest wait for the next run.
2. Expiry warnings: a Prefect event (and a webhook POST) for each resource coming within
   a threshold of its expiry, once per threshold (`slices_bi.flows.expiry_warnings`).
3. Leaks and vanished servers (`slices_bi.flows.reconcile_cloud`).

One run at a time: a run takes the job's lease in the catalog (`slices_bi.catalog.jobs`)
and a second one skips, unless Prefect says the holder's run is not running any more (it
was handed back by a stopping worker, or marked Crashed): then the lease is taken over,
so a dead run blocks the schedule no longer than Prefect takes to see it dead.
`run_expiry_cleanup()` runs the steps without Prefect's engine; `expiry_cleanup` is the
scheduled flow.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run as current_flow_run

from slices_bi.catalog import jobs, metric_store, reconcile
from slices_bi.catalog.db import session_scope
from slices_bi.catalog.deletion import NotExpired, request_deletion, stuck_after
from slices_bi.catalog.errors import CatalogError
from slices_bi.catalog.models import Resource
from slices_bi.catalog.reconcile import EXAMPLES, CleanupReport, DeletionSummary, ReconcileSummary
from slices_bi.catalog.submission import Launcher, submit_task
from slices_bi.catalog.types import utcnow
from slices_bi.deployments.launcher import get_launcher
from slices_bi.deployments.names import EXPIRY_CLEANUP_FLOW
from slices_bi.flows.common import cloud_task_options
from slices_bi.flows.expiry_warnings import WarningSummary, send_warnings
from slices_bi.flows.reconcile_cloud import reconcile_cloud
from slices_bi.settings import Settings, get_settings

REPORT_ARTIFACT_KEY = "expiry-cleanup-report"
CLEANUP_RUNS = "slices_bi_expiry_cleanup_runs_total"
CLEANUP_DELETIONS = "slices_bi_expiry_cleanup_deletions_total"
CLEANUP_LEAKS = "slices_bi_expiry_cleanup_leaks_reaped_total"
CLEANUP_VANISHED = "slices_bi_expiry_cleanup_vanished_marked_total"
CLEANUP_LAST_SUCCESS = "slices_bi_expiry_cleanup_last_success_timestamp_seconds"
LEASE = timedelta(minutes=5)
FLOW_RUN_HOLDER = "flow-run "
Log = logging.Logger | logging.LoggerAdapter[Any]
_module_logger = logging.getLogger(__name__)


def start_deletions(
    settings: Settings, launcher: Launcher, logger: Log = _module_logger
) -> DeletionSummary:
    """Resume stuck deletions, then request the deletion of expired resources, within the
    open-deletion budget; the runs start once every deletion is requested."""
    summary = DeletionSummary()
    now = utcnow()
    tasks: set[str] = set()
    with session_scope(settings) as session:
        summary.open_before = reconcile.count_open_deletions(session)
        budget = max(0, settings.expiry_cleanup_max_deletions - summary.open_before)
        stuck = reconcile.list_stuck_deletions(
            session, now=now, stuck_after=stuck_after(), limit=budget
        )
        for resource in stuck:
            if _request(session, resource, None, tasks, logger, summary):
                summary.resumed += 1
        budget -= summary.resumed
        expired = reconcile.list_expired_undeleted(session, now=now, limit=budget + 1)
        summary.more_waiting = len(expired) > budget
        for resource in expired[:budget]:
            if _request(session, resource, now, tasks, logger, summary):
                summary.started += 1
                if len(summary.resource_ids) < EXAMPLES:
                    summary.resource_ids.append(resource.id)
    for task_id in sorted(tasks):
        summary.not_submitted += submit_task(task_id, launcher) is None
    return summary


def _request(
    session: Any,
    resource: Resource,
    expired_by: datetime | None,
    tasks: set[str],
    logger: Log,
    summary: DeletionSummary,
) -> bool:
    """Request the deletion of `resource`; True when a task took it in."""
    previous = resource.delete_task_id
    try:
        task = request_deletion(
            session, resource_id=resource.id, user_id=None, launcher=None, expired_by=expired_by
        )
    except NotExpired:
        session.rollback()  # extended since it was listed: it stays
        return False
    except CatalogError as exc:
        session.rollback()
        summary.errors += 1
        logger.warning("deletion refused resource_id=%s: %s", resource.id, exc.detail)
        return False
    if task.id == previous:
        return False
    tasks.add(task.id)
    logger.info("deletion requested resource_id=%s task_id=%s", resource.id, task.id)
    return True


def run_expiry_cleanup(
    settings: Settings | None = None, launcher: Launcher | None = None
) -> CleanupReport:
    """One expiry cleanup without Prefect's engine (runs still start through `launcher`).

    Raises `CloudError` when the cloud cannot be listed, after the deletions step ran.
    """
    resolved = settings or get_settings()
    report = CleanupReport()
    holder = _holder()
    if not _take_job(holder, report):
        return report
    start = time.perf_counter()
    failed = True
    try:
        report.deletions = start_deletions(resolved, launcher or get_launcher())
        sent = send_warnings(resolved)
        report.warnings_sent, report.webhook_failures = sent.sent, sent.webhook_failures
        report.reconcile = reconcile_cloud(resolved)
        failed = False
    finally:
        jobs.release_lease(EXPIRY_CLEANUP_FLOW, holder)
        report.duration_seconds = time.perf_counter() - start
        record_metrics(report, failed=failed)
    return report


def record_metrics(report: CleanupReport, *, failed: bool = False) -> None:
    """Count what a run did (deletions started, leaks reaped) and when one last succeeded."""
    failed = failed or report.reconcile_error is not None
    outcome = "skipped" if report.skipped else "failed" if failed else "done"
    try:
        with session_scope() as session:
            metric_store.add(session, CLEANUP_RUNS, {"outcome": outcome})
            if report.skipped:
                return
            d, r = report.deletions, report.reconcile
            metric_store.add(session, CLEANUP_DELETIONS, {"kind": "expired"}, d.started)
            metric_store.add(session, CLEANUP_DELETIONS, {"kind": "resumed"}, d.resumed)
            metric_store.add(session, CLEANUP_LEAKS, amount=r.leaks_removed)
            metric_store.add(session, CLEANUP_VANISHED, amount=r.vanished_marked)
            if outcome == "done":
                metric_store.set_value(session, CLEANUP_LAST_SUCCESS, utcnow().timestamp())
    except Exception:  # the job's work is done; only its numbers are lost
        _module_logger.warning("expiry-cleanup metrics not written", exc_info=True)


def _holder() -> str:
    """Who runs the job: the flow run (the same through its resumed attempts), else this
    process."""
    run_id = current_flow_run.id
    if run_id:
        return f"{FLOW_RUN_HOLDER}{run_id}"
    return f"{get_settings().worker_name}:{uuid.uuid4()}"


def _take_job(holder: str, report: CleanupReport) -> bool:
    if jobs.take_lease(EXPIRY_CLEANUP_FLOW, holder, LEASE) is not None:
        return True
    held = jobs.lease_holder(EXPIRY_CLEANUP_FLOW)
    if held is not None and not _run_alive(held[0]):
        if jobs.take_over_lease(EXPIRY_CLEANUP_FLOW, held[0], holder, LEASE):
            return True
    report.skipped = "another expiry-cleanup is running" + (
        f" ({held[0]}, lease until {held[1]:%H:%M:%S} UTC)" if held else ""
    )
    return False


def _run_alive(holder: str) -> bool:
    """False when `holder` is a flow run that Prefect says is not running (it was handed
    back, crashed, or ended without its `finally`): its lease can be taken over."""
    if not holder.startswith(FLOW_RUN_HOLDER):
        return True
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(UUID(holder.removeprefix(FLOW_RUN_HOLDER))).state
    except ObjectNotFound:
        return False
    except Exception:  # Prefect unreachable: assume alive, the lease expires anyway
        return True
    return state is not None and state.type.value in ("RUNNING", "PENDING", "CANCELLING")


@task(name="start-deletions", cache_policy=NO_CACHE, persist_result=False)
def deletions() -> DeletionSummary:
    """Resume stuck deletions; start deletions of expired resources (within the budget)."""
    return start_deletions(get_settings(), get_launcher(), get_run_logger())


@task(name="warn-expiring", cache_policy=NO_CACHE, persist_result=False)
def warn_expiring() -> WarningSummary:
    """Send the expiry warnings due now (Prefect event, and webhook when configured)."""
    return send_warnings(get_settings(), logger=get_run_logger())


@task(name="reconcile-cloud", **cloud_task_options())
def reconcile_site() -> ReconcileSummary:
    """Remove leaked servers of this site; mark active resources whose server vanished."""
    return reconcile_cloud(get_settings(), get_run_logger())


def _run_name() -> str:
    return f"expiry-cleanup {utcnow():%Y-%m-%d %H:%M:%S}"


@flow(name=EXPIRY_CLEANUP_FLOW, flow_run_name=_run_name, log_prints=False)
def expiry_cleanup() -> CleanupReport:
    """Delete expired resources, resume stuck deletions and reconcile the site's servers
    with the catalog.

    Starts delete-resource runs for expired resources (at most
    `expiry_cleanup_max_deletions` resources being deleted at once) and again for
    resources whose deletion stopped, deletes servers of this site that no live resource
    owns (after `leak_grace_seconds`), and marks active resources whose server vanished as
    failed. The summary is the `expiry-cleanup-report` artifact.
    """
    logger = get_run_logger()
    report = CleanupReport()
    holder = _holder()
    start = time.perf_counter()
    try:
        if _take_job(holder, report):
            report.deletions = deletions()
            sent = warn_expiring()
            report.warnings_sent, report.webhook_failures = sent.sent, sent.webhook_failures
            try:
                report.reconcile = reconcile_site()
            except Exception as exc:
                report.reconcile_error = str(exc)
                raise
    finally:
        jobs.release_lease(EXPIRY_CLEANUP_FLOW, holder)
        report.duration_seconds = time.perf_counter() - start
        record_metrics(report)
        create_markdown_artifact(
            key=REPORT_ARTIFACT_KEY,
            markdown=report.to_markdown(),
            description="Deletions started, leaked servers removed, vanished servers marked",
        )
        logger.info("expiry cleanup: %s", report.summary())
    return report
