"""What each step did for each resource in this process: when it ran and which cloud calls
it made (with their request ids). The receipt of a resource is written from it once the
resource is active.

Kept in memory for an hour: a run resumed in another process knows only the steps it ran
itself, and its receipt says so by listing only those.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from cachetools import TTLCache

from slices_bi.catalog.types import utcnow
from slices_bi.observability import cloud_calls

MAX_CALLS_PER_STEP = 50  # a step that keeps calling (retries) keeps its first calls

_steps: TTLCache[str, list[dict[str, Any]]] = TTLCache(maxsize=20_000, ttl=3600)
_lock = threading.Lock()


@contextmanager
def step(resource_id: str, name: str) -> Iterator[None]:
    """Note the start, the end and the cloud calls of step `name` for `resource_id` (a step
    in progress is listed too, ending at the moment it is read)."""
    with cloud_calls.collect() as calls:
        entry: dict[str, Any] = {"step": name, "started_at": utcnow(), "calls": calls}
        with _lock:
            _steps.setdefault(resource_id, []).append(entry)
        try:
            yield
        finally:
            entry["finished_at"] = utcnow()


def steps_of(resource_id: str) -> list[dict[str, Any]]:
    """The steps noted for `resource_id`, oldest first."""
    now = utcnow()
    with _lock:
        entries = list(_steps.get(resource_id, []))
    return [
        {
            "step": e["step"],
            "started_at": e["started_at"].isoformat(),
            "finished_at": e.get("finished_at", now).isoformat(),
            "cloud_calls": [c.as_dict() for c in list(e["calls"])[:MAX_CALLS_PER_STEP]],
        }
        for e in entries
    ]


def forget(resource_id: str) -> None:
    """Drop what was noted for `resource_id`."""
    with _lock:
        _steps.pop(resource_id, None)


def note(resource_id: str, name: str, started_at: datetime) -> None:
    """Note step `name` of `resource_id`, from `started_at` until now (no calls of its own)."""
    entry = {"step": name, "started_at": started_at, "finished_at": utcnow(), "calls": []}
    with _lock:
        _steps.setdefault(resource_id, []).append(entry)
