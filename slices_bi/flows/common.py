"""What the provision and delete flows share: the retry rule of cloud tasks, the signal that
a delete overtook a provision, and the wording of failures.

Retry rule: every task that calls the cloud is retried `CLOUD_RETRIES` times with
exponential backoff (`RETRY_BACKOFF_SECONDS` * 2**n) and jitter, and only when the error
is transient (`slices_bi.openstack.errors.is_transient`). Final errors fail at once.
"""

from __future__ import annotations

from typing import Any, Final

from prefect import get_run_logger
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.runtime import flow_run as current_flow_run
from prefect.states import State
from prefect.tasks import exponential_backoff

from slices_bi.catalog import lifecycle
from slices_bi.catalog.flow_queries import TaskView, get_task_view
from slices_bi.catalog.models import TaskKind
from slices_bi.flows import call_log
from slices_bi.openstack.errors import CloudError, is_transient

call_log.install()  # every cloud call of a run is in its logs, with the cloud's request id

CLOUD_RETRIES: Final = 4
RETRY_BACKOFF_SECONDS: Final = 2.0
RETRY_JITTER_FACTOR: Final = 0.5

# Polling of server status: first poll after 0.25 s, slowing down to this interval.
POLL_INTERVAL_SECONDS: Final = 5.0

INTERNAL_ERROR: Final = "InternalError"


class Superseded(Exception):
    """The resource is being (or was) deleted: the provision run stops and lets delete win."""

    def __init__(self, resource_id: str) -> None:
        super().__init__(f"resource {resource_id} is being deleted; provisioning stops")
        self.resource_id = resource_id

    def __reduce__(self) -> tuple[Any, ...]:
        return (Superseded, (self.resource_id,))


def retry_on_transient(task: object, task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect `retry_condition_fn`: retry only when the task failed on a transient error."""
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, BaseException) and is_transient(exc)


def cloud_task_options() -> dict[str, Any]:
    """Keyword arguments of `@task` for a step that calls the cloud."""
    return {
        "retries": CLOUD_RETRIES,
        "retry_delay_seconds": exponential_backoff(RETRY_BACKOFF_SECONDS),
        "retry_jitter_factor": RETRY_JITTER_FACTOR,
        "retry_condition_fn": retry_on_transient,
        # Inputs are ids only, and results must never be cached or persisted.
        "cache_policy": NO_CACHE,
        "persist_result": False,
    }


def describe_failure(exc: BaseException) -> tuple[str, str]:
    """(reason, message) of a step failure, worded for the person who asked for the VM."""
    if isinstance(exc, CloudError):
        if exc.transient:
            return exc.reason, f"the cloud is unavailable, tried {CLOUD_RETRIES + 1} times: " + (
                exc.message
            )
        return exc.reason, exc.message
    return INTERNAL_ERROR, f"internal error ({type(exc).__name__}); operators have the run logs"


def start_task(task_id: str, kind: TaskKind) -> TaskView | None:
    """The task a flow run works on, marked running; None when it is already finished.

    Raises LookupError for an unknown task and ValueError for a task of another kind.
    """
    view = get_task_view(task_id)
    if view is None:
        raise LookupError(f"task {task_id} does not exist")
    if view.kind != kind:
        raise ValueError(f"task {task_id} is a {view.kind} task, not a {kind} task")
    running = lifecycle.mark_task_running(
        task_id=task_id, flow_run_id=str(current_flow_run.id or "")
    )
    if running is None:
        get_run_logger().info("task %s is already %s; nothing to do", task_id, view.status)
    return running
