"""Hands a committed task to the launcher after the answer is sent, once at a time per task.

A burst of identical requests (the same `request_id`, or the same DELETE) answers with one
task; without this, each answer would queue its own submission of that task, and a slow
launcher would hold one worker thread per queued submission until no request could run.
A submission already in flight for a task makes later ones no-ops; once it ends, a repeat
request may try again (the sweep retries too).
"""

from __future__ import annotations

import threading

from fastapi import BackgroundTasks

from slices_bi.catalog.models import Task
from slices_bi.catalog.submission import submit_task
from slices_bi.deployments.launcher import Launcher

_in_flight: set[str] = set()
_lock = threading.Lock()


def submit_after_answer(task: Task, background: BackgroundTasks, launcher: Launcher) -> None:
    """Queue the submission of `task` after the answer, unless it has a run or one is queued."""
    if task.flow_run_id is not None:
        return
    with _lock:
        if task.id in _in_flight:
            return
        _in_flight.add(task.id)
    background.add_task(_submit, task.id, launcher)


def _submit(task_id: str, launcher: Launcher) -> None:
    try:
        submit_task(task_id, launcher)
    finally:
        with _lock:
            _in_flight.discard(task_id)
