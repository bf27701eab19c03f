"""Starting the run of an accepted task after the answer has gone out.

The Prefect call happens in a background task after the response, so a slow or absent
Prefect never delays the answer. Submissions of one API process go one at a time (a
SQLite-backed Prefect server answers concurrent writes with 503), and they wait for their
turn without holding a worker thread: a burst of requests never starves the threads that
serve reads.
"""

from __future__ import annotations

import anyio
import anyio.to_thread
from fastapi import BackgroundTasks, Request

from slices_bi.catalog.models import Task
from slices_bi.catalog.submission import Launcher, submit_task


def submit_after_response(
    task: Task, request: Request, background: BackgroundTasks, launcher: Launcher
) -> None:
    """Start the run of `task` once the response is sent, unless it has one already."""
    if task.flow_run_id is None:
        background.add_task(_submit, request.app.state, task.id, launcher)


async def _submit(state: object, task_id: str, launcher: Launcher) -> None:
    limiter = getattr(state, "submission_limiter", None)
    if limiter is None:
        limiter = anyio.CapacityLimiter(1)
        state.submission_limiter = limiter  # type: ignore[attr-defined]
    await anyio.to_thread.run_sync(submit_task, task_id, launcher, limiter=limiter)
