"""How Prefect flow-run states map onto the `/tasks` status (the README holds the same table)."""

from __future__ import annotations

from slices_bi.catalog.models import TaskStatus

_BY_STATE_NAME: dict[str, TaskStatus] = {
    "AwaitingRetry": TaskStatus.RUNNING,
}

_BY_STATE_TYPE: dict[str, TaskStatus] = {
    "SCHEDULED": TaskStatus.PENDING,
    "PENDING": TaskStatus.PENDING,
    "RUNNING": TaskStatus.RUNNING,
    "PAUSED": TaskStatus.RUNNING,
    "CANCELLING": TaskStatus.RUNNING,
    "COMPLETED": TaskStatus.FINISHED,
    "FAILED": TaskStatus.FAILED,
    "CRASHED": TaskStatus.FAILED,
    "CANCELLED": TaskStatus.CANCELLED,
}


def task_status_for(state_type: str, state_name: str | None = None) -> TaskStatus:
    """The task status of a flow run in state (`state_type`, `state_name`).

    Scheduled/Pending/Late -> pending; Running/Retrying/AwaitingRetry/Paused/Cancelling ->
    running; Completed -> finished; Failed/Crashed -> failed; Cancelled -> cancelled.
    AwaitingRetry is a SCHEDULED state, but the run has started, so it counts as running.
    """
    if state_name in _BY_STATE_NAME:
        return _BY_STATE_NAME[state_name]
    try:
        return _BY_STATE_TYPE[state_type.upper().removeprefix("STATETYPE.")]
    except KeyError:
        raise ValueError(f"unknown Prefect state type {state_type!r}") from None
