"""The few aggregate queries `/metrics` runs at each scrape: tasks, resources, unsettled
tasks by age, and the stored samples. Each is one statement over indexed columns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func
from sqlmodel import Session, col, select

from slices_bi.catalog import metric_store
from slices_bi.catalog.models import TERMINAL_TASK_STATUSES, Resource, Task
from slices_bi.catalog.types import utcnow

# Unsettled tasks are counted by "older than" these many seconds.
UNSETTLED_AGES = (0, 60, 300, 900, 3600)


@dataclass
class Snapshot:
    """What the catalog says at one scrape."""

    tasks: dict[tuple[str, str], int] = field(default_factory=dict)
    resources: dict[str, int] = field(default_factory=dict)
    unsettled_older_than: dict[int, int] = field(default_factory=dict)
    oldest_unsettled_seconds: float = 0.0
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)


def snapshot(session: Session, now: datetime | None = None) -> Snapshot:
    """Four aggregate queries; nothing is written."""
    now = now or utcnow()
    found = Snapshot()
    for kind, status, count in session.exec(
        select(Task.kind, Task.status, func.count()).group_by(Task.kind, Task.status)
    ).all():
        found.tasks[(str(kind), str(status))] = int(count)
    for status, count in session.exec(
        select(Resource.status, func.count()).group_by(Resource.status)
    ).all():
        found.resources[str(status)] = int(count)
    found.unsettled_older_than, oldest = _unsettled(session, now, UNSETTLED_AGES)
    if oldest is not None:
        found.oldest_unsettled_seconds = max((now - oldest).total_seconds(), 0.0)
    found.samples = metric_store.read_samples(session)
    return found


def _unsettled(
    session: Session, now: datetime, ages: Sequence[int]
) -> tuple[dict[int, int], datetime | None]:
    columns = [
        func.coalesce(
            func.sum(case((col(Task.created_at) <= now - timedelta(seconds=age), 1), else_=0)),
            0,
        )
        for age in ages
    ]
    statement = select(func.min(Task.created_at), *columns).where(
        col(Task.status).not_in([s.value for s in TERMINAL_TASK_STATUSES])
    )
    row: Any = session.exec(statement).one()
    oldest = row[0]
    if isinstance(oldest, str):  # SQLite answers an aggregate of dates as text
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return {age: int(row[i + 1]) for i, age in enumerate(ages)}, oldest
