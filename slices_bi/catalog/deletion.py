"""Deletion requests: one open delete task per resource, whoever asks (API or expiry cleanup).

Deletions of one experiment asked for close together share a task: while a delete task of
the experiment has not started running, a new deletion joins it instead of making a run of
its own (a class deleting its VMs at the end of the day is a few runs, not one per VM).
A deletion whose task stopped moving (its run died, or no worker took it) is stuck: asking
again starts a fresh task.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from slices_bi.catalog import repository, timeline
from slices_bi.catalog.errors import Conflict, NotFound
from slices_bi.catalog.event_models import EventKind
from slices_bi.catalog.models import (
    TERMINAL_TASK_STATUSES,
    Experiment,
    Resource,
    ResourceStatus,
    Task,
    TaskKind,
    TaskStatus,
)
from slices_bi.catalog.submission import Launcher, submit_task
from slices_bi.catalog.types import utcnow
from slices_bi.ids import new_id
from slices_bi.observability.context import current_request_id
from slices_bi.settings import get_settings

# Resources one delete task may hold: a run deletes them together.
MAX_RESOURCES_PER_DELETE_TASK = 100


class NotExpired(Conflict):
    """The resource is not (or no longer) expired: extended meanwhile, or already gone."""

    code = "not_expired"


def stuck_after() -> timedelta:
    """How long an open task may go without a sign of life before it counts as stuck."""
    return timedelta(seconds=get_settings().run_dead_after_seconds)


def is_stuck(task: Task, now: datetime) -> bool:
    """True when the open task `task` has not moved for `stuck_after()`."""
    return task.status not in TERMINAL_TASK_STATUSES and task.updated_at <= now - stuck_after()


def request_deletion(
    session: Session,
    *,
    resource_id: str,
    user_id: str | None,
    launcher: Launcher | None,
    expired_by: datetime | None = None,
) -> Task:
    """The delete task of `resource_id`: the open one if any, a pending one of the same
    experiment that it joins, or a new one (committed).

    A resource already deleted answers with its last delete task. A stuck open task is
    closed as failed and replaced. With a launcher the run is started at once; without one
    the caller submits it (`submit_task`). With `expired_by` (expiry cleanup), the row is
    read again under a lock and `NotExpired` is raised unless it is still live and expired
    at that time: an extension that committed meanwhile wins.
    """
    resource = repository.get_resource(session, resource_id)
    if resource is None:
        raise NotFound(f"resource {resource_id} does not exist", code="resource_not_found")
    _one_deletion_request_at_a_time(session, resource.experiment_id)
    session.refresh(resource, with_for_update=True)
    if expired_by is not None and not _expired(session, resource, expired_by):
        raise NotExpired(f"resource {resource_id} is not expired at {expired_by.isoformat()}")
    now = utcnow()
    existing = repository.get_task(session, resource.delete_task_id or "")
    if existing is not None:
        if resource.status == ResourceStatus.DELETED or not (
            existing.status in TERMINAL_TASK_STATUSES or is_stuck(existing, now)
        ):
            if launcher is not None and existing.flow_run_id is None:
                submit_task(existing.id, launcher)
            return existing
        if existing.status not in TERMINAL_TASK_STATUSES:
            existing.status = TaskStatus.FAILED
            existing.message = (
                f"no progress for {stuck_after().total_seconds():.0f} s; "
                "the deletion was started again in a new task"
            )
            existing.updated_at = now
            session.add(existing)
    task = _join_pending_task(session, resource, now)
    if task is None:
        task = Task(
            id=new_id("task", get_settings().site_id),
            kind=TaskKind.DELETE,
            status=TaskStatus.PENDING,
            experiment_id=resource.experiment_id,
            user_id=user_id,
            resource_ids=[resource.id],
            message="deletion of 1 resource(s) accepted",
            correlation_id=current_request_id(),
            created_at=now,
            updated_at=now,
        )
        session.add(task)
    resource.delete_task_id = task.id
    if resource.status != ResourceStatus.DELETED:
        _note(session, resource, task.id, user_id, expired_by)
        resource.status = ResourceStatus.DELETING
        resource.status_reason = "DeletionRequested"
        resource.status_message = "deletion requested"
    resource.updated_at = now
    session.add(resource)
    session.commit()
    if launcher is not None:
        submit_task(task.id, launcher)
        session.refresh(task)
    return task


def _note(
    session: Session,
    resource: Resource,
    task_id: str,
    user_id: str | None,
    expired_by: datetime | None,
) -> None:
    """The timeline entries of a deletion request (an expiry first, when it is one)."""
    actor = user_id or ("expiry-cleanup" if expired_by is not None else None)
    if expired_by is not None and resource.status != ResourceStatus.DELETING:
        own = resource.expires_at <= expired_by
        why = f"expired at {resource.expires_at.isoformat()}" if own else "its experiment expired"
        timeline.record(
            session,
            resource.id,
            EventKind.EXPIRED,
            why,
            actor="expiry-cleanup",
            expires_at=resource.expires_at,
        )
    again = " again" if resource.status == ResourceStatus.DELETING else ""
    timeline.record(
        session,
        resource.id,
        EventKind.DELETION_REQUESTED,
        f"deletion requested{again} (task {task_id})",
        actor=actor,
        task_id=task_id,
    )


def _one_deletion_request_at_a_time(session: Session, experiment_id: str) -> None:
    """Lock the experiment's row for the rest of the transaction (a write that changes
    nothing: SQLite takes its write lock, PostgreSQL a row lock), so that deletions asked at
    once for one experiment find each other's pending task instead of all starting one."""
    session.execute(
        update(Experiment)
        .where(col(Experiment.id) == experiment_id)
        .values(id=Experiment.id)
        .execution_options(synchronize_session=False)
    )


def _join_pending_task(session: Session, resource: Resource, now: datetime) -> Task | None:
    """Add `resource` to a delete task of its experiment that has not started; None when
    there is none, or when it started meanwhile.

    Compare-and-set on (status, updated_at): the run marks its task running (and bumps
    updated_at) before it reads the resource list, so an append either lands before that
    and is seen by the run, or fails here. (On SQLite there are no row locks to rely on.)
    """
    task = _joinable_task(session, resource.experiment_id)
    if task is None:
        return None
    ids = [*task.resource_ids, resource.id]
    joined = session.execute(
        update(Task)
        .where(
            col(Task.id) == task.id,
            col(Task.status) == TaskStatus.PENDING,
            col(Task.updated_at) == task.updated_at,
        )
        .values(
            resource_ids=ids,
            message=f"deletion of {len(ids)} resource(s) accepted",
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if joined != 1:
        return None
    session.expire(task)
    return task


def _joinable_task(session: Session, experiment_id: str) -> Task | None:
    """A delete task of the experiment that has not started running and has room."""
    query = (
        select(Task)
        .where(
            Task.kind == TaskKind.DELETE,
            Task.experiment_id == experiment_id,
            Task.status == TaskStatus.PENDING,
        )
        .order_by(col(Task.created_at).desc())
        .limit(1)
        .with_for_update()
    )
    task = session.exec(query).first()
    if task is None or len(task.resource_ids) >= MAX_RESOURCES_PER_DELETE_TASK:
        return None
    if is_stuck(task, utcnow()):
        return None
    return task


def _expired(session: Session, resource: Resource, at: datetime) -> bool:
    if resource.status not in repository.LIVE_RESOURCE_STATUSES:
        return False
    if resource.expires_at <= at:
        return True
    experiment = repository.get_experiment(session, resource.experiment_id)
    return bool(experiment and experiment.expires_at and experiment.expires_at <= at)
