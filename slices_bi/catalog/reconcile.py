"""expiry-cleanup's catalog side: its report, and its reads and writes (deletion budget,
expired rows, vanished servers).

The queries are kept apart from repository.py because only the cleanup uses them; they
follow its rules (session first, keyword-only arguments, no commit).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from sqlalchemy import and_, func, or_, update
from sqlmodel import Session, col, select

from slices_bi.catalog import timeline
from slices_bi.catalog.event_models import EventKind
from slices_bi.catalog.models import (
    TERMINAL_TASK_STATUSES,
    Experiment,
    Resource,
    ResourceStatus,
    Task,
)
from slices_bi.catalog.repository import LIVE_RESOURCE_STATUSES
from slices_bi.catalog.types import utcnow

SERVER_VANISHED = "ServerVanished"
EXAMPLES = 10  # ids listed per action in a report
# A deletion that ended without deleting the resource is tried again, but not at every
# cleanup run: a cloud that keeps refusing would otherwise get a new task every minute.
RETRY_DELETION_AFTER = timedelta(minutes=10)
# A resource left `deleting` by a deletion that failed (transient errors that outlasted the
# retries) is deleted again soon: its server may still be running.
RESUME_DELETION_AFTER = timedelta(seconds=30)


class DeletionSummary(BaseModel):
    """Step 1: deletions of expired resources, and deletions resumed."""

    open_before: int = 0
    resumed: int = 0
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
    leak_errors: int = 0  # the cloud refused the deletion (final error)
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
    skipped: str | None = None  # why this run did nothing (another run holds the job)
    warnings_sent: int = 0  # expiry warnings (Prefect event, and webhook when configured)
    webhook_failures: int = 0

    def __str__(self) -> str:
        return self.to_markdown()

    def summary(self) -> str:
        """One line for logs and the CLI."""
        if self.skipped:
            return f"skipped: {self.skipped}"
        d, r = self.deletions, self.reconcile
        text = (
            f"{d.started} deletion(s) started, {d.resumed} resumed ({d.open_before} open before, "
            f"{d.not_submitted} not yet submitted, {d.errors} error(s)"
            f"{', more waiting' if d.more_waiting else ''}); "
            f"{r.leaks_removed} leaked server(s) removed ({r.leaks_in_grace} in grace, "
            f"{r.leaks_held} held); {r.vanished_marked} vanished server(s) marked; "
            f"{self.warnings_sent} expiry warning(s) sent "
            f"({self.webhook_failures} webhook failure(s))"
        )
        return text + (
            f"; reconcile failed: {self.reconcile_error}" if self.reconcile_error else ""
        )

    def to_markdown(self) -> str:
        """The summary artifact of a run."""
        title = f"# Expiry cleanup {self.started_at:%Y-%m-%d %H:%M:%S} UTC"
        if self.skipped:
            return f"{title}\n\nSkipped: {self.skipped}\n"
        d, r = self.deletions, self.reconcile
        rows = [
            ("deletions started", d.started, d.resource_ids),
            ("stuck deletions started again", d.resumed, []),
            ("  of which not yet submitted to Prefect", d.not_submitted, []),
            ("deletion requests refused", d.errors, []),
            ("leaked servers removed", r.leaks_removed, r.removed_server_ids),
            ("leaked servers still in grace", r.leaks_in_grace, []),
            ("leaked servers held back", r.leaks_held, []),
            ("leaked servers the cloud refused to delete", r.leak_errors, []),
            ("vanished servers marked failed", r.vanished_marked, r.vanished_resource_ids),
            ("expiry warnings sent", self.warnings_sent, []),
            ("  of which the webhook did not take", self.webhook_failures, []),
        ]
        lines = [
            title,
            "",
            "| | count | ids (first few) |",
            "|---|---:|---|",
        ]
        lines += [f"| {label} | {n} | {', '.join(ids)} |" for label, n, ids in rows]
        lines += [
            "",
            f"{d.open_before} deletion(s) were open; the site has {r.site_servers} server(s).",
        ]
        if d.more_waiting:
            lines.append("More expired resources wait for a free deletion slot.")
        if self.reconcile_error:
            lines.append(f"Reconciliation failed: {self.reconcile_error}")
        return "\n".join(lines) + "\n"


def count_open_deletions(session: Session) -> int:
    """Resources whose delete task is not yet finished, failed or cancelled."""
    query = (
        select(func.count())
        .select_from(Resource)
        .join(Task, col(Task.id) == col(Resource.delete_task_id))
        .where(
            col(Resource.status) == ResourceStatus.DELETING,
            col(Task.status).not_in(TERMINAL_TASK_STATUSES),
        )
    )
    return int(session.exec(query).one())


def list_stuck_deletions(
    session: Session, *, now: datetime, stuck_after: timedelta, limit: int
) -> Sequence[Resource]:
    """`deleting` resources whose deletion is not moving: no delete task, a task that ended
    (failed, cancelled) more than `RESUME_DELETION_AFTER` ago, or an open task silent for
    `stuck_after` (its run died, or no worker takes it)."""
    if limit <= 0:
        return []
    query = (
        select(Resource)
        .outerjoin(Task, col(Task.id) == col(Resource.delete_task_id))
        .where(col(Resource.status) == ResourceStatus.DELETING)
        .where(
            or_(
                col(Task.id).is_(None),
                and_(
                    col(Task.status).in_(TERMINAL_TASK_STATUSES),
                    col(Task.updated_at) <= now - RESUME_DELETION_AFTER,
                ),
                and_(
                    col(Task.status).not_in(TERMINAL_TASK_STATUSES),
                    col(Task.updated_at) <= now - stuck_after,
                ),
            )
        )
        .order_by(col(Resource.updated_at), col(Resource.id))
        .limit(limit)
    )
    return session.exec(query).all()


def list_expired_undeleted(session: Session, *, now: datetime, limit: int) -> Sequence[Resource]:
    """Live resources past their expiry (or their experiment's), oldest first, that have no
    open delete task and no deletion that ended within `RETRY_DELETION_AFTER`.
    """
    if limit <= 0:
        return []
    expired_experiments = select(Experiment.id).where(
        col(Experiment.expires_at).is_not(None), col(Experiment.expires_at) <= now
    )
    query = (
        select(Resource)
        .outerjoin(Task, col(Task.id) == col(Resource.delete_task_id))
        .where(col(Resource.status).in_(LIVE_RESOURCE_STATUSES))
        .where(
            (col(Resource.expires_at) <= now) | col(Resource.experiment_id).in_(expired_experiments)
        )
        .where(
            or_(
                col(Task.id).is_(None),
                and_(
                    col(Task.status).in_(TERMINAL_TASK_STATUSES),
                    col(Task.updated_at) <= now - RETRY_DELETION_AFTER,
                ),
            )
        )
        .order_by(col(Resource.expires_at), col(Resource.id))
        .limit(limit)
    )
    return session.exec(query).all()


def list_active_with_server(session: Session) -> Sequence[tuple[str, str]]:
    """(resource id, server id) of every active resource that has a server."""
    query = select(Resource.id, Resource.server_id).where(
        Resource.status == ResourceStatus.ACTIVE, col(Resource.server_id).is_not(None)
    )
    return [(rid, sid) for rid, sid in session.exec(query) if sid]


def resource_statuses(session: Session, resource_ids: Sequence[str]) -> dict[str, ResourceStatus]:
    """The status of each of `resource_ids` that exists in the catalog."""
    if not resource_ids:
        return {}
    query = select(Resource.id, Resource.status).where(col(Resource.id).in_(list(resource_ids)))
    return {rid: ResourceStatus(status) for rid, status in session.exec(query)}


def has_resources(session: Session) -> bool:
    """True when the catalog holds at least one resource row, whatever its status."""
    return session.exec(select(Resource.id).limit(1)).first() is not None


def mark_server_vanished(
    session: Session, *, resource_id: str, server_id: str, now: datetime
) -> bool:
    """Fail an active resource whose server is gone from the cloud; False when the row
    moved on meanwhile (deleted, or another server), so a deletion in flight is not undone.
    """
    statement = (
        update(Resource)
        .where(
            col(Resource.id) == resource_id,
            col(Resource.status) == ResourceStatus.ACTIVE,
            col(Resource.server_id) == server_id,
        )
        .values(
            status=ResourceStatus.FAILED,
            status_reason=SERVER_VANISHED,
            status_message=(
                f"the virtual machine (server {server_id}) no longer exists in the cloud; it was "
                "deleted outside slices-bi. Delete this resource and request a new one."
            ),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if session.execute(statement).rowcount != 1:  # type: ignore[attr-defined]
        return False
    message = f"server {server_id} no longer exists in the cloud (deleted outside slices-bi)"
    timeline.record(session, resource_id, EventKind.FAILED, message, reason=SERVER_VANISHED)
    return True
