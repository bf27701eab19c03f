"""What an operator does about stuck work: see it, retry it, abandon it.

`unsettled()` lists every task that is not finished, failed or cancelled, with its age, how
long since it last moved, and the state of its Prefect run. `retry()` schedules the run
again (the flows resume where the work stands: find before create); `abandon()` gives the
task up: it fails, its run is cancelled, and resources it was provisioning are failed (a
server made for them is then reaped by expiry-cleanup).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlmodel import col, select

from slices_bi.catalog import lifecycle, repository
from slices_bi.catalog.db import session_scope
from slices_bi.catalog.models import TERMINAL_TASK_STATUSES, Task, TaskKind
from slices_bi.catalog.types import utcnow


class OperationError(Exception):
    """The operation cannot be done; the message says why."""


@dataclass(frozen=True)
class Unsettled:
    """One open task and what Prefect says of its run."""

    task_id: str
    kind: str
    status: str
    age: timedelta
    idle: timedelta
    message: str
    flow_run_id: str | None
    run_state: str  # e.g. "Running", "Crashed", "(none)", "(Prefect unreachable)"


def unsettled(now: datetime | None = None) -> list[Unsettled]:
    """Every open task, oldest first, with its run's state."""
    now = now or utcnow()
    with session_scope() as session:
        tasks = session.exec(
            select(Task)
            .where(col(Task.status).not_in(TERMINAL_TASK_STATUSES))
            .order_by(col(Task.created_at))
        ).all()
    states = _run_states([t.flow_run_id for t in tasks if t.flow_run_id])
    return [
        Unsettled(
            task_id=t.id,
            kind=t.kind.value,
            status=t.status.value,
            age=now - t.created_at,
            idle=now - t.updated_at,
            message=t.message,
            flow_run_id=t.flow_run_id,
            run_state=states.get(t.flow_run_id or "", "(none)"),
        )
        for t in tasks
    ]


def _run_states(run_ids: list[str]) -> dict[str, str]:
    if not run_ids:
        return {}
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    try:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(r) for r in run_ids]))
            )
    except Exception:
        return dict.fromkeys(run_ids, "(Prefect unreachable)")
    return {str(r.id): (r.state.name or "?") if r.state else "(no state)" for r in runs}


def _open_task(task_id: str) -> Task:
    with session_scope() as session:
        task = repository.get_task(session, task_id)
    if task is None:
        raise OperationError(f"no task {task_id}")
    if task.status in TERMINAL_TASK_STATUSES:
        raise OperationError(f"task {task_id} is already {task.status.value}")
    return task


def retry(task_id: str) -> str:
    """Schedule the task's run again now; what was done."""
    from prefect.client.orchestration import get_client
    from prefect.states import AwaitingRetry
    from prefect.types._datetime import now

    task = _open_task(task_id)
    if task.flow_run_id is None:
        return f"task {task_id} has no run yet: the API's sweep submits it within a minute"
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(
            UUID(task.flow_run_id),
            AwaitingRetry(scheduled_time=now("UTC"), message="retried by an operator"),
            force=True,
        )
    lifecycle.touch_task(task_id=task_id, message="retried by an operator")
    return f"run {task.flow_run_id} of task {task_id} scheduled again; a worker resumes it"


def abandon(task_id: str, why: str) -> str:
    """Fail the task, cancel its run, fail the resources it was provisioning; what was done."""
    task = _open_task(task_id)
    message = f"abandoned by an operator: {why}"
    lifecycle.fail_task(task_id=task_id, message=message)
    if task.kind == TaskKind.PROVISION:
        for resource_id in task.resource_ids:
            lifecycle.mark_resource_failed(
                resource_id=resource_id, reason="Abandoned", message=message
            )
    if task.flow_run_id:
        _cancel_run(task.flow_run_id, message)
    kept = " (its resources stay deleting: expiry-cleanup retries them)"
    return f"task {task_id} abandoned" + (kept if task.kind == TaskKind.DELETE else "")


def _cancel_run(flow_run_id: str, message: str) -> Any:
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled

    try:
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(UUID(flow_run_id))
            if run.state is None or not run.state.is_final():
                client.set_flow_run_state(UUID(flow_run_id), Cancelled(message=message), force=True)
    except Exception as exc:
        raise OperationError(
            f"the task is abandoned, but its run could not be cancelled: {exc}"
        ) from exc
