"""The sweep: keeps every accepted task moving whatever died on the way.

Flow hooks keep task rows current; this covers what hooks cannot:
- a task Prefect never received (Prefect was down at request time): submitted again;
- a run that died (its worker was killed: the zombie automation marked it Crashed): the
  same run is scheduled again (`AwaitingRetry`) and resumes the work, up to
  `run_max_attempts` crashes; then the task fails (a server it made is no longer owned
  by a live resource, and expiry-cleanup's reaper removes it);
- a run a worker claimed but never started (`Pending` for `run_dead_after_seconds`):
  handed back the same way; a scheduled job's run stuck like that is closed as Crashed
  (its next scheduled run does the work);
- a run that ended without its hook (Completed, Failed, Cancelled): the task gets that
  final status;
- a run gone from Prefect (a reset database): the task is submitted again.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any
from uuid import UUID

from slices_bi.catalog import lifecycle, repository
from slices_bi.catalog.db import session_scope
from slices_bi.catalog.models import TaskKind, TaskStatus
from slices_bi.catalog.submission import Launcher, submit_task
from slices_bi.catalog.types import utcnow
from slices_bi.flows.states import task_status_for
from slices_bi.observability import counters
from slices_bi.settings import get_settings

logger = logging.getLogger(__name__)
RUN_RESUMES = "slices_bi_run_resumes_total"  # runs scheduled again after a crash or lost claim

# The API submits a task right after its answer; the sweep is for those it could not (a
# burst can take a while to submit: not a reason to submit twice).
SUBMIT_GRACE = timedelta(seconds=30)
STALE_AFTER = timedelta(seconds=30)


def submit_unsubmitted(launcher: Launcher, grace: timedelta = SUBMIT_GRACE) -> int:
    """Submit pending tasks older than `grace` that have no flow run; the number submitted."""
    with session_scope() as session:
        unsubmitted = repository.list_unsubmitted_tasks(session, created_before=utcnow() - grace)
        ids = [t.id for t in unsubmitted]
    return sum(1 for task_id in ids if submit_task(task_id, launcher) is not None)


def settle_stale_tasks(
    stale_after: timedelta = STALE_AFTER, dead_after: timedelta | None = None
) -> int:
    """Look at the run of every open task that has not moved for `stale_after`; settle,
    resume or resubmit it as its run's state says. Returns the number of tasks acted on.

    A run claimed and not started for `dead_after` (default: `run_dead_after_seconds`) is
    handed back.

    Any error skips that task only, so one bad row never blocks the rest.
    """
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with session_scope() as session:
        unfinished = repository.list_unfinished_tasks(
            session, updated_before=utcnow() - stale_after
        )
        stale = [(t.id, t.kind, t.resource_ids, t.flow_run_id) for t in unfinished]
    if dead_after is None:
        dead_after = timedelta(seconds=get_settings().run_dead_after_seconds)
    acted = 0
    with get_client(sync_client=True) as client:
        for task_id, kind, resource_ids, flow_run_id in stale:
            try:
                run = client.read_flow_run(UUID(flow_run_id))
            except ObjectNotFound:
                acted += _forget_run(task_id, flow_run_id or "")
                continue
            except Exception:
                logger.warning("flow run of task %s unreadable; skipped", task_id, exc_info=True)
                continue
            try:
                acted += _act_on(client, task_id, kind, resource_ids, run, dead_after)
            except Exception:
                logger.warning("task %s: its run could not be settled", task_id, exc_info=True)
    return acted


def _act_on(
    client: Any,
    task_id: str,
    kind: TaskKind,
    resource_ids: list[str],
    run: Any,
    dead_after: timedelta,
) -> int:
    state = run.state
    if state is None:
        return 0
    settings = get_settings()
    kind_name = state.type.value
    if kind_name == "CRASHED":
        crashes = sum(1 for s in client.read_flow_run_states(run.id) if s.type.value == "CRASHED")
        if crashes < settings.run_max_attempts:
            _resume(client, run.id, f"resumed after a crash ({state.message})")
            lifecycle.touch_task(
                task_id=task_id,
                message=f"the run crashed ({state.message}); resumed: attempt {crashes + 1} "
                f"of {settings.run_max_attempts}",
            )
            return 1
        message = f"the run crashed {crashes} times; last: {state.message}"
        return _settle(task_id, kind, resource_ids, TaskStatus.FAILED, message)
    if kind_name == "PENDING" and _older_than(state, dead_after):
        _resume(client, run.id, "the worker that claimed it never started it")
        return 1
    if not state.is_final():
        return 0
    status = task_status_for(kind_name, state.name)
    return _settle(task_id, kind, resource_ids, status, state.message or f"flow run {state.name}")


def _older_than(state: Any, age: timedelta) -> bool:
    stamp = getattr(state, "timestamp", None)
    return stamp is not None and utcnow() - stamp >= age


def _resume(client: Any, run_id: UUID, why: str) -> None:
    from prefect.states import AwaitingRetry

    counters.inc(RUN_RESUMES)
    from prefect.types._datetime import now

    client.set_flow_run_state(
        run_id, AwaitingRetry(scheduled_time=now("UTC"), message=why), force=True
    )
    logger.warning("flow run %s scheduled again: %s", run_id, why)


def _forget_run(task_id: str, flow_run_id: str) -> int:
    """The run is gone from Prefect: clear it so that the task is submitted again."""
    with session_scope() as session:
        task = repository.get_task(session, task_id)
        if task is None or task.flow_run_id != flow_run_id:
            return 0
        task.flow_run_id = None
        task.status = TaskStatus.PENDING
        task.message = f"flow run {flow_run_id} no longer exists in Prefect; submitted again"
        task.updated_at = utcnow()
    logger.warning("task %s: its flow run %s is gone from Prefect", task_id, flow_run_id)
    return 1


def _settle(
    task_id: str, kind: TaskKind, resource_ids: list[str], status: TaskStatus, message: str
) -> int:
    if status == TaskStatus.FINISHED:
        closed = lifecycle.finish_task(task_id=task_id)
    elif status == TaskStatus.CANCELLED:
        closed = lifecycle.cancel_task(task_id=task_id, message=message)
    elif status == TaskStatus.FAILED:
        closed = lifecycle.fail_task(task_id=task_id, message=message)
    else:
        return 0
    if not closed:
        return 0
    if kind == TaskKind.PROVISION and status != TaskStatus.FINISHED:
        for resource_id in resource_ids:
            # Only pending/provisioning ones change, and their user data goes. A server
            # made meanwhile is not live any more: expiry-cleanup's reaper removes it.
            lifecycle.mark_resource_failed(
                resource_id=resource_id,
                reason="ProvisioningInterrupted",
                message=f"provisioning stopped: {message}",
            )
    logger.info("task settled from its flow run task_id=%s status=%s", task_id, status.value)
    return 1


def close_stuck_job_runs() -> int:
    """Close as Crashed the scheduled jobs' runs that a worker claimed and never started."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    from slices_bi.deployments.names import CATALOG_SYNC_FLOW, EXPIRY_CLEANUP_FLOW

    dead_after = timedelta(seconds=get_settings().run_dead_after_seconds)
    closed = 0
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PENDING]))
            ),
            deployment_filter=DeploymentFilter(
                name=DeploymentFilterName(any_=[CATALOG_SYNC_FLOW, EXPIRY_CLEANUP_FLOW])
            ),
        )
        for run in runs:
            if run.state is not None and _older_than(run.state, dead_after):
                message = "claimed by a worker that never started it"
                client.set_flow_run_state(run.id, Crashed(message=message), force=True)
                closed += 1
    return closed


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
                close_stuck_job_runs()
            except Exception:  # the sweep must outlive a Prefect or database outage
                logger.warning("sweep failed; retrying in %ss", self._interval, exc_info=True)
