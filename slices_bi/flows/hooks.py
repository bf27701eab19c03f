"""Flow state hooks: they carry the run's state onto the app's task row.

Mapping (`slices_bi.flows.states.task_status_for`): Running -> running; Completed ->
finished with completed 100; Failed -> failed with the state message; Cancelled ->
cancelled. A terminal task row is never changed again (see `catalog.lifecycle`), so the
flow body may write a better message first and the hook then changes nothing.

A Crashed run does not settle its task: the sweep resumes the work with a new attempt of
the same run (`slices_bi.deployments.sweep`), and fails the task only when the attempts
are used up. When a provision run fails or is cancelled, the hook removes what the run
made for resources that are still pending/provisioning and marks them failed (no waiting;
the periodic reconciler is the safety net, and nothing runs on SIGKILL).

Hooks never raise: every error is logged and swallowed.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect.client.schemas.objects import FlowRun
from prefect.logging.loggers import flow_run_logger
from prefect.states import State

from slices_bi.catalog import lifecycle
from slices_bi.catalog.flow_queries import get_task_view
from slices_bi.catalog.models import TaskStatus
from slices_bi.deployments.names import PROVISION_FLOW
from slices_bi.flows import cleanup
from slices_bi.flows.states import task_status_for
from slices_bi.openstack.connection import connect
from slices_bi.settings import get_settings

_fallback_logger = logging.getLogger(__name__)

_GIVE_UP_REASONS = {
    "CANCELLED": "ProvisionCancelled",
    "CANCELLING": "ProvisionCancelled",
}


def _logger(flow: Any, flow_run: FlowRun) -> Any:
    try:
        return flow_run_logger(flow_run=flow_run, flow=flow)
    except Exception:
        return _fallback_logger


def _state_kind(state: State[Any]) -> str:
    return str(getattr(state.type, "value", state.type)).upper()


def _release_unfinished(flow_run: FlowRun, task_id: str, state: State[Any], log: Any) -> None:
    task = get_task_view(task_id)
    if task is None or not task.resource_ids:
        return
    kind = _state_kind(state)
    reason = _GIVE_UP_REASONS.get(kind, "ProvisionFailed")
    what = "was cancelled" if reason == "ProvisionCancelled" else "failed"
    message = f"the provisioning run {flow_run.name or flow_run.id} {what}"
    if state.message and kind != "CANCELLED":
        message += f": {state.message}"
    try:
        conn = connect()
    except Exception:
        log.warning("task %s: the cloud could not be reached to clean up", task_id, exc_info=True)
        conn = None
    given_up = cleanup.give_up_unfinished(
        conn,
        resource_ids=task.resource_ids,
        site_id=get_settings().site_id,
        reason=reason,
        message=message,
    )
    if given_up:
        log.warning("task %s: gave up resources %s (%s)", task_id, ", ".join(given_up), reason)


def sync_task_state(flow: Any, flow_run: FlowRun, state: State[Any]) -> None:
    """Write the run's `state` onto its task row (the `task_id` parameter); never raises."""
    log = _logger(flow, flow_run)
    try:
        task_id = (flow_run.parameters or {}).get("task_id")
        if not isinstance(task_id, str):
            log.warning("flow run %s has no task_id parameter; no task to update", flow_run.id)
            return
        if _state_kind(state) == "CRASHED":
            lifecycle.touch_task(
                task_id=task_id, message=f"the run crashed ({state.message}); it will be resumed"
            )
            return
        status = task_status_for(_state_kind(state), state.name)
        if status == TaskStatus.RUNNING:
            lifecycle.mark_task_running(task_id=task_id, flow_run_id=str(flow_run.id))
            return
        if status in (TaskStatus.FAILED, TaskStatus.CANCELLED) and (
            getattr(flow, "name", None) == PROVISION_FLOW
        ):
            _release_unfinished(flow_run, task_id, state, log)
        if status == TaskStatus.FINISHED:
            lifecycle.finish_task(task_id=task_id)
        elif status == TaskStatus.FAILED:
            lifecycle.fail_task(task_id=task_id, message=state.message or "the run failed")
        elif status == TaskStatus.CANCELLED:
            lifecycle.cancel_task(task_id=task_id, message=state.message or "cancelled")
    except Exception:
        log.exception("could not record state %s of flow run %s", state.name, flow_run.id)


def on_running(flow: Any, flow_run: FlowRun, state: State[Any]) -> None:
    """Flow hook: the task is running."""
    sync_task_state(flow, flow_run, state)


def on_completion(flow: Any, flow_run: FlowRun, state: State[Any]) -> None:
    """Flow hook: the task is finished (completed 100)."""
    sync_task_state(flow, flow_run, state)


def on_failure(flow: Any, flow_run: FlowRun, state: State[Any]) -> None:
    """Flow hook: the task failed with the state message (provision: unfinished resources
    are cleaned up and failed)."""
    sync_task_state(flow, flow_run, state)


def on_crashed(flow: Any, flow_run: FlowRun, state: State[Any]) -> None:
    """Flow hook: the run crashed; the task waits for the sweep to resume it."""
    sync_task_state(flow, flow_run, state)


def on_cancellation(flow: Any, flow_run: FlowRun, state: State[Any]) -> None:
    """Flow hook: the task was cancelled (provision: unfinished resources cleaned up)."""
    sync_task_state(flow, flow_run, state)


# The hooks of a task-backed flow: `@flow(name=..., **TASK_STATE_HOOKS)`.
TASK_STATE_HOOKS: dict[str, Any] = {
    "on_running": [on_running],
    "on_completion": [on_completion],
    "on_failure": [on_failure],
    "on_crashed": [on_crashed],
    "on_cancellation": [on_cancellation],
}
