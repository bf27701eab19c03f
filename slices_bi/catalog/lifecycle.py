"""The state changes the flows make to task and resource rows.

Each function opens its own `session_scope()` (one short transaction), takes ids as
keyword arguments and returns plain values, so it can be called from any Prefect task,
hook or process that shares the database.

Rules kept here, not in the flows:
- a task in a terminal state (finished, failed, cancelled) is never changed again, so a
  late hook cannot reopen or rewrite it; `completed` never goes down;
- a resource that is `deleting` or `deleted` is never moved back by a provision run
  (delete wins); `deleted` is final;
- the user-data row goes as soon as the resource is active or given up.
"""

from __future__ import annotations

from sqlmodel import Session

from slices_bi.catalog import metric_store, timeline
from slices_bi.catalog.db import session_scope
from slices_bi.catalog.event_models import EventKind
from slices_bi.catalog.flow_queries import ResourceView, TaskView, resource_view, task_view
from slices_bi.catalog.models import (
    TERMINAL_TASK_STATUSES,
    Resource,
    ResourceStatus,
    ResourceUserData,
    Task,
    TaskStatus,
)
from slices_bi.catalog.types import utcnow

_PROVISIONABLE = (ResourceStatus.PENDING, ResourceStatus.PROVISIONING)
_GONE = (ResourceStatus.DELETING, ResourceStatus.DELETED)


# --- tasks -------------------------------------------------------------------------------


def _open_task(session: Session, task_id: str) -> Task | None:
    task = session.get(Task, task_id, with_for_update=True)
    if task is None or task.status in TERMINAL_TASK_STATUSES:
        return None
    return task


def mark_task_running(*, task_id: str, flow_run_id: str | None = None) -> TaskView | None:
    """pending -> running (and remember `flow_run_id` when the task has none).

    Returns the task as it is once running, or None when the task is missing or already
    terminal. A pending delete task takes in more resources until it runs (see
    `catalog.deletion`, which appends only while the row is still pending): the row is read
    again after the change has committed, so the run works on every resource that joined.
    """
    with session_scope() as session:
        task = _open_task(session, task_id)
        if task is None:
            return None
        task.status = TaskStatus.RUNNING
        if flow_run_id and not task.flow_run_id:
            task.flow_run_id = flow_run_id
        task.updated_at = utcnow()
    with session_scope() as session:
        task = session.get(Task, task_id)
        return task_view(task) if task is not None else None


def touch_task(*, task_id: str, message: str | None = None) -> None:
    """Note that the run of an open task is alive (and say what it waits for): the sweep
    and a repeated DELETE take a task that stops moving for a stuck one."""
    with session_scope() as session:
        task = _open_task(session, task_id)
        if task is not None:
            if message is not None:
                task.message = message
            task.updated_at = utcnow()


def set_task_progress(*, task_id: str, completed: int, message: str | None = None) -> int:
    """Raise `completed` to `completed` (0..100; never lowered); returns the stored value.

    A terminal task is left alone (its current value is returned, -1 when missing).
    """
    with session_scope() as session:
        task = session.get(Task, task_id, with_for_update=True)
        if task is None:
            return -1
        if task.status in TERMINAL_TASK_STATUSES:
            return task.completed
        value = max(task.completed, min(max(int(completed), 0), 100))
        if value != task.completed or (message is not None and message != task.message):
            task.completed = value
            if message is not None:
                task.message = message
            task.updated_at = utcnow()
        return value


def _close_task(
    task_id: str, status: TaskStatus, message: str | None, completed: int | None
) -> bool:
    with session_scope() as session:
        task = _open_task(session, task_id)
        if task is None:
            return False
        task.status = status
        if message is not None:
            task.message = message
        if completed is not None:
            task.completed = max(task.completed, completed)
        task.updated_at = utcnow()
        metric_store.observe(
            session,
            "slices_bi_task_duration_seconds",
            (task.updated_at - task.created_at).total_seconds(),
            {"kind": task.kind.value, "status": status.value},
        )
        return True


def finish_task(*, task_id: str, message: str | None = None) -> bool:
    """-> finished with completed 100 (and `message`, when given); False when missing or
    already terminal."""
    return _close_task(task_id, TaskStatus.FINISHED, message, 100)


def fail_task(*, task_id: str, message: str) -> bool:
    """-> failed with `message`; False when missing or already terminal."""
    return _close_task(task_id, TaskStatus.FAILED, message, None)


def cancel_task(*, task_id: str, message: str = "cancelled") -> bool:
    """-> cancelled with `message`; False when missing or already terminal."""
    return _close_task(task_id, TaskStatus.CANCELLED, message, None)


# --- resources ---------------------------------------------------------------------------


def _resource(session: Session, resource_id: str) -> Resource | None:
    return session.get(Resource, resource_id, with_for_update=True)


def _drop_user_data(session: Session, resource_id: str) -> bool:
    row = session.get(ResourceUserData, resource_id)
    if row is None:
        return False
    session.delete(row)
    return True


def start_provisioning(*, resource_id: str, task_id: str | None = None) -> ResourceStatus | None:
    """pending -> provisioning; returns the status the resource has afterwards (None: missing).

    A caller goes on only when the answer is `provisioning`.
    """
    with session_scope() as session:
        resource = _resource(session, resource_id)
        if resource is None:
            return None
        if resource.status == ResourceStatus.PENDING:
            resource.status = ResourceStatus.PROVISIONING
            resource.status_reason = ""
            resource.status_message = ""
            if task_id and not resource.provision_task_id:
                resource.provision_task_id = task_id
            resource.updated_at = utcnow()
        return ResourceStatus(resource.status)


def record_server_id(*, resource_id: str, server_id: str) -> bool:
    """Save the id of the server just made for the resource.

    Call it right after Nova accepted the server, before waiting for it. Returns False when
    the resource is no longer being provisioned (deleting/deleted/missing): the caller then
    removes the server itself (the id is still saved when the row is `deleting`, so the
    delete flow finds it too). The user data stays until the resource is active or given
    up: a build the cloud loses is tried again on a new server, which needs it.
    """
    with session_scope() as session:
        resource = _resource(session, resource_id)
        if resource is None:
            return False
        if resource.status == ResourceStatus.DELETED:
            return False
        if resource.server_id != server_id:
            resource.server_id = server_id
            resource.updated_at = utcnow()
            msg = f"server {server_id} is being built"
            timeline.record(session, resource_id, EventKind.BUILDING, msg, server_id=server_id)
        return resource.status in _PROVISIONABLE


def forget_server_id(*, resource_id: str, server_id: str) -> bool:
    """Forget `server_id` as the resource's server (it was deleted to make a new one)."""
    with session_scope() as session:
        resource = _resource(session, resource_id)
        if resource is None or resource.server_id != server_id:
            return False
        resource.server_id = None
        resource.updated_at = utcnow()
        return True


def record_floating_ip(*, resource_id: str, floating_ip_id: str, address: str | None) -> bool:
    """Save the floating IP made for the resource; False when it is no longer provisioning."""
    with session_scope() as session:
        resource = _resource(session, resource_id)
        if resource is None or resource.status == ResourceStatus.DELETED:
            return False
        resource.floating_ip_id = floating_ip_id
        resource.public_ipv4_address = address
        resource.updated_at = utcnow()
        return resource.status in _PROVISIONABLE


def mark_resource_active(
    *, resource_id: str, private_ipv4: str | None, public_ipv4_address: str | None = None
) -> bool:
    """pending/provisioning -> active with its addresses; False when delete won meanwhile."""
    with session_scope() as session:
        resource = _resource(session, resource_id)
        if resource is None or resource.status not in _PROVISIONABLE:
            return False
        resource.status = ResourceStatus.ACTIVE
        resource.status_reason = "Ready"
        resource.status_message = f"server {resource.server_id} is ACTIVE"
        resource.private_ipv4 = private_ipv4
        if public_ipv4_address is not None:
            resource.public_ipv4_address = public_ipv4_address
        resource.updated_at = utcnow()
        _drop_user_data(session, resource_id)
        timeline.record(
            session,
            resource_id,
            EventKind.ACTIVE,
            resource.status_message,
            private_ipv4=private_ipv4,
            public_ipv4=resource.public_ipv4_address,
        )
        return True


def mark_resource_failed(*, resource_id: str, reason: str, message: str) -> bool:
    """pending/provisioning -> failed with `reason` (CamelCase) and `message`; drops user data.

    Returns False (and changes nothing but the user data) when the resource is active,
    deleting, deleted, already failed or missing.
    """
    with session_scope() as session:
        resource = _resource(session, resource_id)
        if resource is None:
            return False
        _drop_user_data(session, resource_id)
        if resource.status not in _PROVISIONABLE:
            return False
        resource.status = ResourceStatus.FAILED
        resource.status_reason = reason[:64]
        resource.status_message = message
        resource.updated_at = utcnow()
        timeline.record(session, resource_id, EventKind.FAILED, message, reason=reason[:64])
        return True


def mark_resource_deleting(*, resource_id: str, task_id: str | None = None) -> ResourceView | None:
    """Any live status -> deleting; returns the row afterwards (None when missing).

    A `deleted` resource stays deleted (the caller sees that in the returned status).
    The returned `server_id` / `floating_ip_id` are read under the same row lock, so a
    provision run that records a server after this sees `deleting` and removes it itself.
    """
    with session_scope() as session:
        resource = _resource(session, resource_id)
        if resource is None:
            return None
        if resource.status != ResourceStatus.DELETED:
            if resource.status != ResourceStatus.DELETING:
                resource.status = ResourceStatus.DELETING
                resource.status_reason = ""
                resource.status_message = ""
            if task_id and resource.delete_task_id != task_id:
                resource.delete_task_id = task_id
            resource.updated_at = utcnow()
        _drop_user_data(session, resource_id)
        return resource_view(resource)


def note_deletion_problem(*, resource_id: str, reason: str, message: str) -> bool:
    """Say why the deletion of a `deleting` resource did not finish (it will be retried)."""
    with session_scope() as session:
        resource = _resource(session, resource_id)
        if resource is None or resource.status != ResourceStatus.DELETING:
            return False
        resource.status_reason = reason[:64]
        resource.status_message = f"deletion not finished, will be retried: {message}"
        resource.updated_at = utcnow()
        return True


def mark_resource_deleted(*, resource_id: str) -> bool:
    """deleting -> deleted (the last step of a delete); False unless it was deleting."""
    with session_scope() as session:
        resource = _resource(session, resource_id)
        if resource is None or resource.status != ResourceStatus.DELETING:
            return False
        resource.status = ResourceStatus.DELETED
        resource.status_reason = "Deleted"
        resource.status_message = (
            f"server {resource.server_id} deleted" if resource.server_id else "deleted"
        )
        resource.updated_at = utcnow()
        _drop_user_data(session, resource_id)
        timeline.record(session, resource_id, EventKind.DELETED, resource.status_message)
        return True


# --- user data ---------------------------------------------------------------------------


def get_user_data(*, resource_id: str) -> str | None:
    """The cloud-init payload of the resource (plain text, may hold passwords), or None.

    Only the create-server step may call this; never log, return or persist the value.
    """
    with session_scope() as session:
        row = session.get(ResourceUserData, resource_id)
        return row.payload if row is not None else None
