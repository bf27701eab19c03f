"""Progress of a multi-resource run: which resources are still going, which failed, and the
`completed` value written to the task row (and to a Prefect progress artifact).

Each resource is worth the same share; within it each step has a weight. A resource that
failed or was superseded counts as done. The value starts at 5, never goes down (the
catalog enforces it too), stays below 100 while the run works, and reaches 100 with the
task's final state (`finish`), on the artifact too.

The artifact is written at most every `ARTIFACT_EVERY_SECONDS` (and at the end): every
write is one more write for the Prefect server, which a burst of runs must not flood.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Final

from prefect import get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact

from slices_bi.catalog import lifecycle
from slices_bi.flows.steps import Outcome

ARTIFACT_EVERY_SECONDS: Final = 15.0


class Progress:
    """Step outcomes of every resource of a task, and the progress written to its row."""

    def __init__(self, task_id: str, resource_ids: Iterable[str], weights: dict[str, int]):
        self.task_id = task_id
        self.weights = weights
        self.done: dict[str, int] = dict.fromkeys(resource_ids, 0)
        self.failures: dict[str, BaseException] = {}
        self.superseded: set[str] = set()
        self._artifact: Any = None
        self._artifact_written = time.monotonic()  # nothing to show in the first seconds

    def live(self) -> list[str]:
        """Resources neither failed nor superseded."""
        return [r for r in self.done if r not in self.failures and r not in self.superseded]

    def settle(self, resource_id: str) -> None:
        """The resource needs no more work in this run."""
        self.done[resource_id] = 100

    def record(self, step: str, outcome: Outcome) -> dict[str, Any]:
        """Take a step's outcome in; returns the values of the resources it did."""
        for resource_id in outcome.done:
            self.done[resource_id] = min(100, self.done[resource_id] + self.weights.get(step, 0))
        for resource_id, exc in outcome.failed.items():
            self.failures[resource_id] = exc
            self.settle(resource_id)
        for resource_id in outcome.superseded:
            self.superseded.add(resource_id)
            self.settle(resource_id)
        self.flush()
        return outcome.done

    def flush(self, message: str | None = None) -> None:
        share = sum(self.done.values()) / max(len(self.done), 1)
        completed = min(99, 5 + int(share * 0.95))
        lifecycle.set_task_progress(task_id=self.task_id, completed=completed, message=message)
        if time.monotonic() - self._artifact_written >= ARTIFACT_EVERY_SECONDS:
            self._write_artifact(float(completed))

    def finish(self) -> None:
        """The run is over: the artifact shows 100 (the task row is closed by the caller)."""
        self._write_artifact(100.0)

    def _write_artifact(self, value: float) -> None:
        self._artifact_written = time.monotonic()
        try:
            if self._artifact is None:
                self._artifact = create_progress_artifact(
                    progress=value, description=f"progress of task {self.task_id}"
                )
            else:
                update_progress_artifact(self._artifact, progress=value)
        except Exception:  # the artifact is a nicety; the task row is the record
            get_run_logger().debug("progress artifact not written", exc_info=True)
