"""The worker's run executor: the served deployments' flow runs, each in a thread of one
long-lived process.

Prefect's `serve` starts a new Python process per flow run: about two seconds and 90 MB
before the flow's first line, for flows whose own work is a few cloud calls and waits.
Here the worker claims a scheduled run the way a runner does (it proposes `Pending`; the
server refuses a second claim, so several workers share the work and no run executes
twice) and runs it with Prefect's flow engine (`run_flow`) in a thread of its own. The run
is the same Prefect flow run, with its task runs, logs, heartbeats and state hooks.

Stopping (SIGTERM, Ctrl-C) hands the runs in flight back: each goes to `AwaitingRetry`,
scheduled now, and the next worker to poll resumes it (the flows are reconcilers: find
before create). A worker killed without a chance to hand back (SIGKILL, OOM, a lost
machine) is covered twice: when it starts again it hands back every run its last life
claimed (its name is in the claim), and runs whose heartbeats stop are marked `Crashed`
by a Prefect automation (`slices_bi.deployments.zombies`) for the sweep to resume.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.context import SyncClientContext
from prefect.exceptions import Abort
from prefect.flow_engine import run_flow
from prefect.flows import Flow
from prefect.states import AwaitingRetry, Pending
from prefect.types._datetime import now
from prefect.utilities.engine import propose_state_sync

from slices_bi import prefect_gate

logger = logging.getLogger(__name__)

CLAIM_PREFIX = "claimed by worker "


def claimant(message: str | None) -> str | None:
    """The worker named in a claim message, or None."""
    if message and message.startswith(CLAIM_PREFIX):
        return message.removeprefix(CLAIM_PREFIX)
    return None


class InProcessRunner:
    """Polls Prefect for scheduled runs of `flows`' deployments and runs them in threads."""

    def __init__(
        self,
        flows: Mapping[UUID, Flow[..., Any]],
        *,
        name: str,
        limit: int,
        poll_seconds: float,
        ready_file: Path | None = None,
    ) -> None:
        self.flows = dict(flows)
        self.ready_file = ready_file
        self.name = name
        self.limit = limit
        self.poll_seconds = poll_seconds
        self.in_flight: dict[UUID, FlowRun] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="flow-run")

    def stop(self) -> None:
        """Ask `run` to return (safe from a signal handler)."""
        self._stop.set()

    def run(self) -> None:
        """Poll and execute until `stop()`; then hand the runs in flight back."""
        with get_client(sync_client=True, httpx_settings=prefect_gate.httpx_settings()) as client:
            self.hand_back_orphans(client)
            logger.info("worker %s polls for runs of %d deployment(s)", self.name, len(self.flows))
            while not self._stop.is_set():
                try:
                    self._poll(client)
                    if self.ready_file is not None and not self.ready_file.exists():
                        self.ready_file.write_text(f"{os.getpid()}\n")
                except Exception:  # Prefect away for a while: keep polling
                    logger.warning("polling for flow runs failed", exc_info=True)
                # Jitter, as Prefect's runner does: workers do not poll in lock step.
                self._stop.wait(self.poll_seconds * random.uniform(0.7, 1.3))  # noqa: S311
            if self.ready_file is not None:
                self.ready_file.unlink(missing_ok=True)
            self.hand_back(client, reason=f"worker {self.name} stopped before the run ended")

    def _poll(self, client: SyncPrefectClient) -> None:
        with self._lock:
            free = self.limit - len(self.in_flight)
        if free <= 0:
            return
        runs = client.get_scheduled_flow_runs_for_deployments(
            deployment_ids=list(self.flows), scheduled_before=now("UTC"), limit=free
        )
        for run in runs:
            if self._stop.is_set():
                return
            with self._lock:
                if run.id in self.in_flight:
                    continue
            try:
                state = propose_state_sync(
                    client, Pending(message=CLAIM_PREFIX + self.name), flow_run_id=run.id
                )
            except Abort:  # another worker claimed it first
                continue
            if not state.is_pending():
                continue
            claimed = FlowRun.model_validate({**run.model_dump(), "state": state})
            with self._lock:
                self.in_flight[run.id] = claimed
            self._pool.submit(self._execute, claimed)

    def _execute(self, run: FlowRun) -> None:
        try:
            flow = self.flows[run.deployment_id]  # type: ignore[index]
            # The engine takes its client from this context: its writes go through the gate.
            with SyncClientContext(httpx_settings=prefect_gate.httpx_settings()):
                run_flow(flow, flow_run=run, return_type="state")
        except BaseException:
            logger.exception("flow run %s ended with an error the engine did not handle", run.id)
        finally:
            with self._lock:
                self.in_flight.pop(run.id, None)

    def hand_back(self, client: SyncPrefectClient, reason: str) -> int:
        """Put every run in flight back to AwaitingRetry (scheduled now); the number.

        A run whose engine already reached a final state is left alone. (Should one end in
        between, it runs once more: the flows are idempotent and stop at a closed task.)
        """
        with self._lock:
            ids = list(self.in_flight)
        handed = 0
        for run_id in ids:
            try:
                state = client.read_flow_run(run_id).state
            except Exception:
                state = None
            if state is not None and state.is_final():
                continue
            _reschedule(client, run_id, f"{reason}; it resumes when a worker takes it")
            handed += 1
        if handed:
            logger.info("handed back %d run(s) in flight", handed)
        return handed

    def hand_back_orphans(self, client: SyncPrefectClient) -> int:
        """Hand back runs an earlier life of this worker claimed and left unfinished."""
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                deployment_id=FlowRunFilterDeploymentId(any_=list(self.flows)),
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.PENDING, StateType.RUNNING])
                ),
            )
        )
        orphans = [run for run in runs if self._claimed_by_me(client, run)]
        for run in orphans:
            _reschedule(client, run.id, f"worker {self.name} restarted while it ran this")
        if orphans:
            logger.warning("handed back %d run(s) left by this worker's last life", len(orphans))
        return len(orphans)

    def _claimed_by_me(self, client: SyncPrefectClient, run: FlowRun) -> bool:
        for state in reversed(client.read_flow_run_states(run.id)):
            if state.type == StateType.PENDING and claimant(state.message) is not None:
                return claimant(state.message) == self.name
        return False


def _reschedule(client: SyncPrefectClient, run_id: UUID, message: str) -> None:
    try:
        client.set_flow_run_state(
            run_id, AwaitingRetry(scheduled_time=now("UTC"), message=message), force=True
        )
    except Exception:
        logger.warning("flow run %s could not be handed back", run_id, exc_info=True)
