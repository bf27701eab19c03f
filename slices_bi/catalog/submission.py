"""Hands committed tasks to Prefect and records the flow-run id; used by the API and the sweep."""

from __future__ import annotations

import logging

from slices_bi.catalog import repository
from slices_bi.catalog.db import session_scope
from slices_bi.catalog.models import TERMINAL_TASK_STATUSES
from slices_bi.catalog.types import utcnow
from slices_bi.deployments.launcher import Launcher

logger = logging.getLogger(__name__)


def submit_task(task_id: str, launcher: Launcher) -> str | None:
    """Start the flow run of task `task_id` unless it has one; return the run id or None.

    A None leaves the task `pending` with no run: the sweep tries again later, so an
    accepted request is never lost.
    """
    with session_scope() as session:
        task = repository.get_task(session, task_id)
        if task is None or task.status in TERMINAL_TASK_STATUSES:
            return None
        if task.flow_run_id:
            return task.flow_run_id
    flow_run_id = launcher.submit(task)
    if flow_run_id is None:
        return None
    with session_scope() as session:
        task = repository.get_task(session, task_id)
        if task is not None and task.flow_run_id is None:
            task.flow_run_id = flow_run_id
            task.updated_at = utcnow()
            session.add(task)
    return flow_run_id
