"""Hands committed tasks to the run launcher and records the flow-run id; used by the API,
the sweep and expiry-cleanup.

The launcher is a port: the catalog states what it needs (`Launcher`), the deployments
package implements it with Prefect; the catalog never imports a runner.
"""

from __future__ import annotations

import logging
from typing import Protocol

from slices_bi.catalog import repository
from slices_bi.catalog.db import session_scope
from slices_bi.catalog.models import TERMINAL_TASK_STATUSES, Task
from slices_bi.catalog.types import utcnow

logger = logging.getLogger(__name__)


class Launcher(Protocol):
    """Something that starts the flow run of a committed task."""

    def submit(self, task: Task, name: str | None = None) -> str | None:
        """The flow-run id, or None when the run could not be created (retried later).

        `name` is what the run is called in the Prefect UI."""
        ...


def run_name(task: Task, friendly_names: list[str]) -> str:
    """The flow-run name an operator recognises: kind, VM names (or count), experiment."""
    shown = ", ".join(friendly_names[:3])
    if len(friendly_names) > 3:
        shown += f" +{len(friendly_names) - 3}"
    return f"{task.kind.value} {shown or 'nothing'} · {task.experiment_id}"


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
        names = [r.friendly_name for r in repository.get_resources(session, task.resource_ids)]
    flow_run_id = launcher.submit(task, run_name(task, names))
    if flow_run_id is None:
        return None
    with session_scope() as session:
        task = repository.get_task(session, task_id)
        if task is not None and task.flow_run_id is None:
            task.flow_run_id = flow_run_id
            task.updated_at = utcnow()
            session.add(task)
    return flow_run_id
