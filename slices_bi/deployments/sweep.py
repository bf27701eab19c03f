"""The sweep: submits tasks Prefect never received and settles tasks whose run died silently.

Flow hooks keep task rows current; this covers what hooks cannot: a Prefect outage at
request time, and runs killed without a hook (SIGKILL, OOM, a lost worker).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from slices_bi.catalog import repository
from slices_bi.catalog.db import session_scope
from slices_bi.catalog.models import TERMINAL_TASK_STATUSES, ResourceStatus, TaskKind, TaskStatus
from slices_bi.catalog.submission import submit_task
from slices_bi.catalog.types import utcnow
from slices_bi.deployments.launcher import Launcher
from slices_bi.flows.states import task_status_for

logger = logging.getLogger(__name__)

SUBMIT_GRACE = timedelta(seconds=5)
STALE_AFTER = timedelta(seconds=60)


def submit_unsubmitted(launcher: Launcher, grace: timedelta = SUBMIT_GRACE) -> int:
    """Submit pending tasks older than `grace` that have no flow run; the number submitted."""
    with session_scope() as session:
        unsubmitted = repository.list_unsubmitted_tasks(session, created_before=utcnow() - grace)
        ids = [t.id for t in unsubmitted]
    return sum(1 for task_id in ids if submit_task(task_id, launcher) is not None)


def settle_stale_tasks(stale_after: timedelta = STALE_AFTER) -> int:
    """Give unfinished tasks whose flow run is final that final status; the number settled."""
    from prefect.client.orchestration import get_client

    with session_scope() as session:
        unfinished = repository.list_unfinished_tasks(
            session, updated_before=utcnow() - stale_after
        )
        stale = [(t.id, t.flow_run_id) for t in unfinished]
    settled = 0
    with get_client(sync_client=True) as client:
        for task_id, flow_run_id in stale:
            run = client.read_flow_run(flow_run_id)  # type: ignore[arg-type]
            if run.state is None or not run.state.is_final():
                continue
            status = task_status_for(run.state.type.value, run.state.name)
            settled += _settle(task_id, status, run.state.message or f"flow run {run.state.name}")
    return settled


def _settle(task_id: str, status: TaskStatus, message: str) -> int:
    with session_scope() as session:
        task = repository.get_task(session, task_id)
        if task is None or task.status in TERMINAL_TASK_STATUSES:
            return 0
        task.status = status
        task.message = message
        task.updated_at = utcnow()
        if status == TaskStatus.FINISHED:
            task.completed = 100
        session.add(task)
        if task.kind == TaskKind.PROVISION and status != TaskStatus.FINISHED:
            for resource in repository.get_resources(session, task.resource_ids):
                if resource.status in (ResourceStatus.PENDING, ResourceStatus.PROVISIONING):
                    resource.status = ResourceStatus.FAILED
                    resource.status_reason = "ProvisioningInterrupted"
                    resource.status_message = f"provisioning stopped: {message}"
                    resource.updated_at = utcnow()
                    session.add(resource)
        logger.info("task settled from its flow run task_id=%s status=%s", task_id, status.value)
        return 1


class Sweeper:
    """Runs the sweep every `interval` seconds in a daemon thread until `stop()`."""

    def __init__(self, launcher: Launcher, interval: float) -> None:
        self._launcher = launcher
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slices-bi-sweep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                submit_unsubmitted(self._launcher)
                settle_stale_tasks()
            except Exception:  # the sweep must outlive a Prefect or database outage
                logger.warning("sweep failed; retrying in %ss", self._interval, exc_info=True)
