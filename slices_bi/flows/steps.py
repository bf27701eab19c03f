"""Steps that work on every resource of a task at once, as one Prefect task run each.

A request of fifty VMs is one run of six task runs, not three hundred: each step calls the
cloud for all its resources concurrently (threads) and reports, per resource, a value, a
final failure, or that a deletion overtook it (`Superseded`). Transient cloud errors are
retried by Prefect: the step raises `StepRetry` when any resource hit one, Prefect runs the
whole step again (with backoff). A retry works only on the resources that met the
transient error: what the earlier tries did is remembered for the task run (in this
process; a retry elsewhere redoes it, which every step allows: find before create, delete
ignores missing). After the last try, the flow takes the outcome carried by the last
`StepRetry` and fails only the resources that kept failing.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cachetools import TTLCache
from prefect.runtime import task_run as current_task_run
from prefect.states import State

from slices_bi.flows import journal
from slices_bi.flows.common import INTERNAL_ERROR, Superseded
from slices_bi.observability import counters
from slices_bi.openstack.errors import CloudError, TransientCloudError, is_transient

STEP_RETRIES = "slices_bi_step_retries_total"

# Cloud calls one step makes at once (the global limit caps server creations further).
STEP_THREADS = 16

# What earlier tries of a task run did, by task run id: its retries skip those resources.
_earlier_tries: TTLCache[str, Outcome] = TTLCache(maxsize=10_000, ttl=3600)
_earlier_lock = threading.Lock()


@dataclass
class Outcome:
    """What a step did for each resource."""

    done: dict[str, Any] = field(default_factory=dict)
    failed: dict[str, BaseException] = field(default_factory=dict)
    superseded: set[str] = field(default_factory=set)


class StepRetry(TransientCloudError):
    """Some resources of a step met a transient cloud error: retry the step."""

    def __init__(self, outcome: Outcome, transient: dict[str, BaseException]) -> None:
        first = next(iter(transient.values()))
        super().__init__(f"{len(transient)} resource(s) met a transient cloud error, e.g. {first}")
        self.outcome = outcome
        self.transient_errors = transient

    def __reduce__(self) -> tuple[Any, ...]:
        return (StepRetry, (self.outcome, self.transient_errors))


def for_each(
    work: Callable[[str], Any], resource_ids: Iterable[str], threads: int = STEP_THREADS
) -> Outcome:
    """Run `work(resource_id)` for every resource concurrently; raises `StepRetry` when any
    met a transient error (the others' results travel with it)."""
    run_id = str(current_task_run.id or "")
    with _earlier_lock:
        outcome = _earlier_tries.pop(run_id, None) or Outcome()
    finished = outcome.done.keys() | outcome.failed.keys() | outcome.superseded
    ids = [r for r in resource_ids if r not in finished]
    transient: dict[str, BaseException] = {}
    if not ids:
        return outcome

    step = str(current_task_run.task_name or "step")

    def one(resource_id: str) -> None:
        try:
            with journal.step(resource_id, step):
                outcome.done[resource_id] = work(resource_id)
        except Superseded:
            outcome.superseded.add(resource_id)
        except Exception as exc:
            if is_transient(exc):
                transient[resource_id] = exc
            else:
                outcome.failed[resource_id] = exc

    if len(ids) == 1:
        one(ids[0])
    else:
        with ThreadPoolExecutor(max_workers=min(threads, len(ids))) as pool:
            # Each thread runs in a copy of this context: Prefect's run logger needs it.
            futures = [pool.submit(contextvars.copy_context().run, one, rid) for rid in ids]
            for future in futures:
                future.result()
    if transient:
        if run_id:
            with _earlier_lock:
                _earlier_tries[run_id] = outcome
        counters.inc(STEP_RETRIES, {"step": step})
        raise StepRetry(outcome, transient)
    return outcome


def outcome_of(state: State[Any], resource_ids: Iterable[str], tries: int) -> Outcome:
    """The outcome of a step's task run once Prefect gave up or succeeded.

    A run that ended on `StepRetry` gives the outcome of its last try, the resources that
    kept meeting transient errors failed; any other failure fails every resource.
    """
    if state.is_completed():
        result = state.result()
        assert isinstance(result, Outcome)
        return result
    error = state.result(raise_on_failure=False)
    if isinstance(error, StepRetry):
        outcome = error.outcome
        for resource_id, exc in error.transient_errors.items():
            outcome.failed[resource_id] = CloudError(
                f"the cloud is unavailable, tried {tries} times: {exc}",
                reason=getattr(exc, "reason", None) or "CloudUnavailable",
            )
        return outcome
    if not isinstance(error, BaseException):
        error = RuntimeError(state.message or f"the step ended {state.name}")
    return Outcome(failed=dict.fromkeys(resource_ids, error))


def describe(exc: BaseException) -> tuple[str, str]:
    """(reason, message) of a resource's failure, worded for the person who asked."""
    if isinstance(exc, CloudError):
        return exc.reason, exc.message
    return INTERNAL_ERROR, f"internal error ({type(exc).__name__}); operators have the run logs"
