"""Starts flow runs of the provision/delete deployments: one Prefect call per task.

The task id is the idempotency key, so submitting the same task twice (a retried request,
the sweep racing a slow submission) returns the same flow run.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol
from uuid import UUID

from slices_bi.catalog.models import Task, TaskKind
from slices_bi.deployments.names import DEPLOYMENT_OF_KIND

logger = logging.getLogger(__name__)


class Launcher(Protocol):
    """Something that starts the flow run of a committed task."""

    def submit(self, task: Task) -> str | None:
        """The flow-run id, or None when the run could not be created (retried later)."""
        ...


class PrefectLauncher:
    """Creates runs with `create_flow_run_from_deployment`, deployment ids cached.

    Creation calls are serialized: a SQLite-backed Prefect server answers bursts of
    concurrent writes with 503 "database is locked" (reference/prefect.md §1.2).
    """

    def __init__(self) -> None:
        self._deployment_ids: dict[TaskKind, UUID] = {}
        self._lock = threading.Lock()

    def submit(self, task: Task) -> str | None:
        from prefect.client.orchestration import get_client

        try:
            with self._lock, get_client(sync_client=True) as client:
                deployment_id = self._deployment_ids.get(task.kind)
                if deployment_id is None:
                    deployment = client.read_deployment_by_name(DEPLOYMENT_OF_KIND[task.kind])
                    deployment_id = self._deployment_ids[task.kind] = deployment.id
                run = client.create_flow_run_from_deployment(
                    deployment_id,
                    parameters={"task_id": task.id},
                    idempotency_key=task.id,
                    name=f"{task.kind.value}-{task.id}",
                    tags=[f"experiment:{task.experiment_id}", f"kind:{task.kind.value}"],
                )
        except Exception as exc:  # any failure leaves the task pending for the sweep
            logger.warning("flow run not created task_id=%s error=%s", task.id, exc)
            self._deployment_ids.pop(task.kind, None)
            return None
        logger.info("flow run created task_id=%s flow_run_id=%s", task.id, run.id)
        return str(run.id)


_default_launcher: PrefectLauncher | None = None


def get_launcher() -> Launcher:
    """The process-wide launcher."""
    global _default_launcher
    if _default_launcher is None:
        _default_launcher = PrefectLauncher()
    return _default_launcher
