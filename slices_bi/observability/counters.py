"""Counters of a process, kept in memory until the catalog writes them (see
`slices_bi.catalog.metric_store.flush`).

The flows run in a worker process that serves no HTTP: what they count reaches the API's
`/metrics` through the catalog database, written in batches rather than on every cloud call.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

Labels = tuple[tuple[str, str], ...]
Key = tuple[str, Labels]

_pending: dict[Key, float] = {}
_gauges: dict[Key, float] = {}
_lock = threading.Lock()


def labels_of(labels: Mapping[str, str] | None) -> Labels:
    """Labels in their canonical order."""
    return tuple(sorted((k, str(v)) for k, v in (labels or {}).items()))


def inc(name: str, labels: Mapping[str, str] | None = None, amount: float = 1.0) -> None:
    """Add `amount` to the counter `name{labels}` (written to the catalog at the next flush)."""
    key = (name, labels_of(labels))
    with _lock:
        _pending[key] = _pending.get(key, 0.0) + amount


def set_gauge(name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
    """Set the gauge `name{labels}` to `value` (written at the next flush; the last wins)."""
    with _lock:
        _gauges[(name, labels_of(labels))] = value


def drain() -> tuple[dict[Key, float], dict[Key, float]]:
    """Every pending increment and gauge value, forgotten here (the caller writes them or
    puts them back)."""
    with _lock:
        taken, gauges = dict(_pending), dict(_gauges)
        _pending.clear()
        _gauges.clear()
    return taken, gauges


def restore(taken: Mapping[Key, float], gauges: Mapping[Key, float]) -> None:
    """Put back what a failed write could not store (newer gauge values win)."""
    with _lock:
        for key, amount in taken.items():
            _pending[key] = _pending.get(key, 0.0) + amount
        for key, value in gauges.items():
            _gauges.setdefault(key, value)
