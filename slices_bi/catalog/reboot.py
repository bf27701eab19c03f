"""Reboot requests (`POST /resources/{id}/reboot`) and what the reboot run records.

A reboot is a task of its own, like a deletion: the request writes the task and a
`reboot_requested` event naming the task and the kind (soft or hard); the run reads the
kind from that event (flow parameters are the task id only) and records `rebooted` or
`reboot_failed`. A reboot asked for while one is open for the resource answers that task.
"""

from __future__ import annotations

from sqlmodel import Session

from slices_bi.catalog import repository, timeline
from slices_bi.catalog.db import session_scope
from slices_bi.catalog.deletion import is_stuck
from slices_bi.catalog.errors import Conflict
from slices_bi.catalog.event_models import EventKind
from slices_bi.catalog.models import (
    TERMINAL_TASK_STATUSES,
    ResourceStatus,
    Task,
    TaskKind,
    TaskStatus,
)
from slices_bi.catalog.resources import get_resource_of, resource_not_found
from slices_bi.catalog.types import utcnow
from slices_bi.ids import new_id
from slices_bi.settings import get_settings


def request_reboot(
    session: Session, *, resource_id: str, experiment_id: str, user_id: str | None, hard: bool
) -> Task:
    """The reboot task of an active resource of `experiment_id` (committed): the open one,
    or a new one. A deleted resource answers like an unknown one (404)."""
    resource = get_resource_of(session, resource_id=resource_id, experiment_id=experiment_id)
    session.refresh(resource, with_for_update=True)
    if resource.status == ResourceStatus.DELETED:
        raise resource_not_found(resource_id)
    if resource.status != ResourceStatus.ACTIVE:
        raise Conflict(
            f"resource {resource_id} is {resource.status.value}; only active resources can be "
            "rebooted",
            code="resource_not_active",
        )
    now = utcnow()
    last = timeline.last_event(session, resource_id, EventKind.REBOOT_REQUESTED)
    open_task = repository.get_task(session, last.task_id) if last and last.task_id else None
    if open_task is not None and open_task.status not in TERMINAL_TASK_STATUSES:
        if not is_stuck(open_task, now):
            return open_task
    kind = "hard" if hard else "soft"
    task = Task(
        id=new_id("task", get_settings().site_id),
        kind=TaskKind.REBOOT,
        status=TaskStatus.PENDING,
        experiment_id=experiment_id,
        user_id=user_id,
        resource_ids=[resource_id],
        message=f"{kind} reboot of 1 resource(s) accepted",
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    timeline.record(
        session,
        resource_id,
        EventKind.REBOOT_REQUESTED,
        f"{kind} reboot requested (task {task.id})",
        actor=user_id or experiment_id,
        task_id=task.id,
        at=now,
        type=kind,
    )
    session.commit()
    return task


def reboot_kind(*, resource_id: str, task_id: str) -> str:
    """ "soft" or "hard": what the request of `task_id` asked for (soft when unknown)."""
    with session_scope() as session:
        event = timeline.last_event(session, resource_id, EventKind.REBOOT_REQUESTED, task_id)
        kind = event.data.get("type") if event is not None else None
        return "hard" if kind == "hard" else "soft"


def reboot_recorded(*, resource_id: str, task_id: str) -> bool:
    """True when the run of `task_id` already rebooted the resource (a resumed run)."""
    with session_scope() as session:
        return timeline.last_event(session, resource_id, EventKind.REBOOTED, task_id) is not None


def record_reboot(
    *,
    resource_id: str,
    task_id: str,
    error: str | None = None,
    server_id: str | None = None,
    reason: str | None = None,
) -> None:
    """Add `rebooted` (or `reboot_failed` with `error`) to the resource's timeline."""
    with session_scope() as session:
        if error is None:
            kind, message = EventKind.REBOOTED, "rebooted; the server is ACTIVE again"
        else:
            kind, message = EventKind.REBOOT_FAILED, error
        timeline.record(
            session, resource_id, kind, message, task_id=task_id, server_id=server_id, reason=reason
        )
