"""Deletion requests: one open delete task per resource, whoever asks (API or expiry cleanup)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from slices_bi.catalog import repository
from slices_bi.catalog.errors import Conflict, NotFound
from slices_bi.catalog.models import (
    TERMINAL_TASK_STATUSES,
    Resource,
    ResourceStatus,
    Task,
    TaskKind,
    TaskStatus,
)
from slices_bi.catalog.submission import submit_task
from slices_bi.catalog.types import utcnow
from slices_bi.deployments.launcher import Launcher
from slices_bi.ids import new_id
from slices_bi.settings import get_settings


class NotExpired(Conflict):
    """The resource is not (or no longer) expired: extended meanwhile, or already gone."""

    code = "not_expired"


def request_deletion(
    session: Session,
    *,
    resource_id: str,
    user_id: str | None,
    launcher: Launcher | None,
    expired_by: datetime | None = None,
) -> Task:
    """The delete task of `resource_id`: the open one if any, else a new one (committed).

    A resource already deleted answers with its last delete task. With a launcher the run
    is started at once; without one the caller submits it (`submit_task`). With
    `expired_by` (expiry cleanup), the row is read again under a lock and `NotExpired` is
    raised unless it is still live and expired at that time: an extension that committed
    meanwhile wins.
    """
    resource = repository.get_resource(session, resource_id)
    if resource is None:
        raise NotFound(f"resource {resource_id} does not exist", code="resource_not_found")
    if expired_by is not None:
        session.refresh(resource, with_for_update=True)
        if not _expired(session, resource, expired_by):
            raise NotExpired(f"resource {resource_id} is not expired at {expired_by.isoformat()}")
    if resource.delete_task_id:
        existing = repository.get_task(session, resource.delete_task_id)
        reusable = existing is not None and (
            existing.status not in TERMINAL_TASK_STATUSES
            or resource.status == ResourceStatus.DELETED
        )
        if existing is not None and reusable:
            if launcher is not None and existing.flow_run_id is None:
                submit_task(existing.id, launcher)
            return existing
    now = utcnow()
    task = Task(
        id=new_id("task", get_settings().site_id),
        kind=TaskKind.DELETE,
        status=TaskStatus.PENDING,
        experiment_id=resource.experiment_id,
        user_id=user_id,
        resource_ids=[resource.id],
        message=f"deletion of {resource.friendly_name} accepted",
        created_at=now,
        updated_at=now,
    )
    resource.delete_task_id = task.id
    if resource.status != ResourceStatus.DELETED:
        resource.status = ResourceStatus.DELETING
        resource.status_reason = "DeletionRequested"
        resource.status_message = "deletion requested"
    resource.updated_at = now
    session.add(task)
    session.add(resource)
    session.commit()
    if launcher is not None:
        submit_task(task.id, launcher)
        session.refresh(task)
    return task


def _expired(session: Session, resource: Resource, at: datetime) -> bool:
    if resource.status not in repository.LIVE_RESOURCE_STATUSES:
        return False
    if resource.expires_at <= at:
        return True
    experiment = repository.get_experiment(session, resource.experiment_id)
    return bool(experiment and experiment.expires_at and experiment.expires_at <= at)
