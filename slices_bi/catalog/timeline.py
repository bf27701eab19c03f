"""A resource's timeline: events are added in the same transaction as the change they
record (so the timeline never tells of a change that did not commit), and read in order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from slices_bi.catalog.event_models import EventKind, ResourceEvent, ResourceEventsPublic
from slices_bi.catalog.types import utcnow


def record(
    session: Session,
    resource_id: str,
    kind: EventKind,
    message: str,
    *,
    actor: str | None = None,
    task_id: str | None = None,
    at: datetime | None = None,
    **data: Any,
) -> None:
    """Add an event to the session (committed with the caller's change). `data` must be
    JSON-able and free of secrets: it is shown to the experiment."""
    session.add(
        ResourceEvent(
            resource_id=resource_id,
            kind=kind.value,
            at=at or utcnow(),
            actor=actor,
            task_id=task_id,
            message=message,
            data={k: _plain(v) for k, v in data.items() if v is not None},
        )
    )


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def events_of(session: Session, resource_id: str) -> list[ResourceEvent]:
    """The events of `resource_id` in the order they were written."""
    query = (
        select(ResourceEvent)
        .where(ResourceEvent.resource_id == resource_id)
        .order_by(col(ResourceEvent.id))
    )
    return list(session.exec(query).all())


def timeline_of(session: Session, resource_id: str) -> ResourceEventsPublic:
    """The answer of `GET /resources/{id}/events`."""
    rows = events_of(session, resource_id)
    return ResourceEventsPublic.model_validate(
        {"resource_id": resource_id, "data": [r.model_dump() for r in rows], "count": len(rows)}
    )


def last_event(
    session: Session, resource_id: str, kind: EventKind, task_id: str | None = None
) -> ResourceEvent | None:
    """The latest event of `kind` for the resource (and `task_id` when given)."""
    query = select(ResourceEvent).where(
        ResourceEvent.resource_id == resource_id, ResourceEvent.kind == kind.value
    )
    if task_id is not None:
        query = query.where(ResourceEvent.task_id == task_id)
    return session.exec(query.order_by(col(ResourceEvent.id).desc()).limit(1)).first()
