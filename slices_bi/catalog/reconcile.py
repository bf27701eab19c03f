"""Catalog reads and writes of expiry-cleanup (deletion budget, expired rows, vanished servers).

Kept apart from repository.py because only the cleanup uses them; they follow its rules
(session first, keyword-only arguments, no commit).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, update
from sqlmodel import Session, col, select

from slices_bi.catalog.models import (
    TERMINAL_TASK_STATUSES,
    Experiment,
    Resource,
    ResourceStatus,
    Task,
    TaskKind,
)
from slices_bi.catalog.repository import LIVE_RESOURCE_STATUSES

SERVER_VANISHED = "ServerVanished"
# A deletion that ended without deleting the resource is tried again, but not at every
# cleanup run: a cloud that keeps refusing would otherwise get a new task every minute.
RETRY_DELETION_AFTER = timedelta(minutes=10)


def count_open_deletions(session: Session) -> int:
    """Delete tasks not yet finished, failed or cancelled (whoever started them)."""
    query = (
        select(func.count())
        .select_from(Task)
        .where(Task.kind == TaskKind.DELETE, col(Task.status).not_in(TERMINAL_TASK_STATUSES))
    )
    return int(session.exec(query).one())


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
    return session.execute(statement).rowcount == 1  # type: ignore[attr-defined]
