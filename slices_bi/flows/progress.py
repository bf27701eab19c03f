"""Progress of a multi-resource flow: which resources are still going, which failed, and
the `completed` value written to the task row (and to a Prefect progress artifact).

Each resource is worth the same share; within it each step has a weight (`STEP_WEIGHTS`).
A resource that failed or was superseded counts as done. The value starts at 5, never goes
down (the catalog enforces it too) and stays below 100 until the flow finishes the task.
"""

from __future__ import annotations

from typing import Any, Final

from prefect import get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.tasks import Task

from slices_bi.catalog import lifecycle
from slices_bi.flows.common import Superseded

# Share of one resource's progress each step is worth once done (sums to 100).
STEP_WEIGHTS: Final[dict[str, int]] = {
    "lookup-catalog": 10,
    "resolve-network": 10,
    "create-server": 30,
    "wait-for-active": 40,
    "record-addresses": 10,
}

# What the task's `message` says while a step runs.
STEP_MESSAGES: Final[dict[str, str]] = {
    "lookup-catalog": "looking up the image and flavor in the cloud",
    "resolve-network": "resolving the network",
    "create-server": "creating the server(s)",
    "wait-for-active": "waiting for the server(s) to become ACTIVE",
    "record-addresses": "recording addresses",
}


class StepTracker:
    """Step outcomes of every resource, and the progress written to the task row.

    `run(step, calls)` submits one Prefect task run per resource (concurrently), waits for
    all, keeps the results of those that completed and records the exception of the others
    (`failures`, or `superseded` for a `Superseded` signal).
    """

    def __init__(self, task_id: str, resource_ids: list[str]) -> None:
        self.task_id = task_id
        self.done: dict[str, int] = dict.fromkeys(resource_ids, 0)
        self.failures: dict[str, BaseException] = {}
        self.superseded: set[str] = set()
        self.artifact_id: Any = None
        try:
            self.artifact_id = create_progress_artifact(
                progress=0.0, description=f"provisioning of task {task_id}"
            )
        except Exception:  # the artifact is a nicety; the task row is the record
            get_run_logger().debug("no progress artifact", exc_info=True)

    def live(self) -> list[str]:
        return [r for r in self.done if r not in self.failures and r not in self.superseded]

    def run(self, step: Task[..., Any], calls: dict[str, tuple[Any, ...]]) -> dict[str, Any]:
        """Run `step` for every resource of `calls` concurrently; returns the results."""
        self.flush(STEP_MESSAGES.get(step.name))
        futures = {rid: step.submit(rid, *args) for rid, args in calls.items()}
        results: dict[str, Any] = {}
        for rid, future in futures.items():
            future.wait()
            state = future.state
            if state.is_completed():
                results[rid] = future.result()
                self.done[rid] += STEP_WEIGHTS[step.name]
                continue
            exc = state.result(raise_on_failure=False)
            if not isinstance(exc, BaseException):
                exc = RuntimeError(state.message or f"step {step.name} ended {state.name}")
            if isinstance(exc, Superseded):
                self.superseded.add(rid)
            else:
                self.failures[rid] = exc
            self.done[rid] = 100
        self.flush()
        return results

    def flush(self, message: str | None = None) -> None:
        share = sum(self.done.values()) / max(len(self.done), 1)
        completed = min(99, 5 + int(share * 0.95))
        lifecycle.set_task_progress(task_id=self.task_id, completed=completed, message=message)
        if self.artifact_id is not None:
            try:
                update_progress_artifact(self.artifact_id, progress=float(completed))
            except Exception:
                get_run_logger().debug("progress artifact not updated", exc_info=True)
