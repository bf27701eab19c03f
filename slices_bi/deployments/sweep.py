"""The sweep: submits tasks Prefect never received and settles tasks whose run died silently.

Flow hooks keep task rows current; this covers what hooks cannot: a Prefect outage at
request time, and runs killed without a hook (SIGKILL, OOM, a lost worker).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from uuid import UUID

from slices_bi.catalog import lifecycle, repository
from slices_bi.catalog.db import session_scope
from slices_bi.catalog.models import TaskKind, TaskStatus
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
    """Give unfinished tasks whose flow run is final that final status; the number settled.

    A run that no longer exists in Prefect (deleted in the UI, a reset database) fails its
    task; any other error skips that task only, so one bad row never blocks the rest.
    """
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with session_scope() as session:
        unfinished = repository.list_unfinished_tasks(
            session, updated_before=utcnow() - stale_after
        )
        stale = [(t.id, t.kind, t.resource_ids, t.flow_run_id) for t in unfinished]
    settled = 0
    with get_client(sync_client=True) as client:
        for task_id, kind, resource_ids, flow_run_id in stale:
            try:
                run = client.read_flow_run(UUID(flow_run_id))
            except ObjectNotFound:
                message = f"flow run {flow_run_id} no longer exists in Prefect"
                settled += _settle(task_id, kind, resource_ids, TaskStatus.FAILED, message)
                continue
            except Exception:
                logger.warning("flow run of task %s unreadable; skipped", task_id, exc_info=True)
                continue
            if run.state is None or not run.state.is_final():
                continue
            status = task_status_for(run.state.type.value, run.state.name)
            message = run.state.message or f"flow run {run.state.name}"
            settled += _settle(task_id, kind, resource_ids, status, message)
    return settled


def _settle(
    task_id: str, kind: TaskKind, resource_ids: list[str], status: TaskStatus, message: str
) -> int:
    if status == TaskStatus.FINISHED:
        closed = lifecycle.finish_task(task_id=task_id)
    elif status == TaskStatus.CANCELLED:
        closed = lifecycle.cancel_task(task_id=task_id, message=message)
    else:
        closed = lifecycle.fail_task(task_id=task_id, message=message)
    if not closed:
        return 0
    if kind == TaskKind.PROVISION and status != TaskStatus.FINISHED:
        for resource_id in resource_ids:
            # Only pending/provisioning ones change; their user data goes too.
            lifecycle.mark_resource_failed(
                resource_id=resource_id,
                reason="ProvisioningInterrupted",
                message=f"provisioning stopped: {message}",
            )
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
