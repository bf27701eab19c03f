"""Starting the run of an accepted task after the answer has gone out.

The Prefect call happens in a background task after the response, so a slow or absent
Prefect never delays the answer. An API process sends at most `prefect_create_concurrency`
creations at once, and the others wait for their turn without holding a worker thread: a
burst of requests never starves the threads that serve reads. A burst of identical requests
(the same `request_id`, or DELETEs that share a task) queues one submission of that task:
later ones are no-ops while it is in flight; once it ends, a repeat request may try again
(the sweep retries too).
"""

from __future__ import annotations

import threading

import anyio
import anyio.to_thread
from fastapi import BackgroundTasks, Request

from slices_bi.catalog.models import Task
from slices_bi.catalog.submission import Launcher, submit_task
from slices_bi.settings import get_settings

_in_flight: set[str] = set()
_lock = threading.Lock()


def submit_after_response(
    task: Task, request: Request, background: BackgroundTasks, launcher: Launcher
) -> None:
    """Start the run of `task` once the response is sent, unless it has a run or one is
    already on its way."""
    if task.flow_run_id is not None:
        return
    with _lock:
        if task.id in _in_flight:
            return
        _in_flight.add(task.id)
    background.add_task(_submit, request.app.state, task.id, launcher)


async def _submit(state: object, task_id: str, launcher: Launcher) -> None:
    limiter = getattr(state, "submission_limiter", None)
    if limiter is None:
        limiter = anyio.CapacityLimiter(get_settings().prefect_create_concurrency)
        state.submission_limiter = limiter  # type: ignore[attr-defined]
    try:
        await anyio.to_thread.run_sync(submit_task, task_id, launcher, limiter=limiter)
    finally:
        with _lock:
            _in_flight.discard(task_id)
