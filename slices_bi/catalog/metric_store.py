"""Metric samples in the catalog: what the flows (and the API) count reaches `/metrics`.

Two ways in: `add`/`set_value`/`observe` inside the transaction of the change they count
(a task that ends, an expiry cleanup), exact and atomic; and the in-memory counters of
`slices_bi.observability.counters` (a cloud call, a retry, a catalog sync, which must write
nothing when nothing changed), written in batches by `flush()`, which a flusher thread
calls every `metrics_flush_seconds` and at exit.
"""

from __future__ import annotations

import atexit
import logging
import math
import threading
from collections.abc import Mapping, Sequence

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from slices_bi.catalog.db import session_scope
from slices_bi.catalog.observed import MetricSample
from slices_bi.catalog.types import utcnow
from slices_bi.observability import counters
from slices_bi.observability.counters import Labels, labels_of

logger = logging.getLogger(__name__)

# Seconds from a POST or DELETE to the end of its task.
DURATION_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


def encode_labels(labels: Labels) -> str:
    """`k=v,k=v`; commas and equals signs in values become underscores."""
    return ",".join(f"{k}={v.replace(',', '_').replace('=', '_')}" for k, v in labels)


def decode_labels(text: str) -> dict[str, str]:
    """The labels of an encoded sample."""
    if not text:
        return {}
    return dict(part.split("=", 1) for part in text.split(","))


def _upsert(session: Session, rows: Sequence[tuple[str, str, float]], *, replace: bool) -> None:
    # Sorted, so that two writers never lock the same rows in opposite orders (PostgreSQL).
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = utcnow()
    for name, labels, value in sorted(rows):
        statement = insert(MetricSample).values(
            name=name, labels=labels, value=value, updated_at=now
        )
        new_value = (
            statement.excluded.value if replace else MetricSample.value + statement.excluded.value  # type: ignore[operator]
        )
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["name", "labels"],
                set_={"value": new_value, "updated_at": now},
            )
        )


def add(
    session: Session, name: str, labels: Mapping[str, str] | None = None, amount: float = 1.0
) -> None:
    """Add `amount` to the counter `name{labels}` in `session`'s transaction."""
    _upsert(session, [(name, encode_labels(labels_of(labels)), amount)], replace=False)


def set_value(
    session: Session, name: str, value: float, labels: Mapping[str, str] | None = None
) -> None:
    """Set the gauge `name{labels}` to `value` in `session`'s transaction."""
    _upsert(session, [(name, encode_labels(labels_of(labels)), value)], replace=True)


def observe(
    session: Session,
    name: str,
    value: float,
    labels: Mapping[str, str] | None = None,
    buckets: Sequence[float] = DURATION_BUCKETS,
) -> None:
    """Record one observation of the histogram `name{labels}`."""
    le = next((b for b in buckets if value <= b), math.inf)
    base = labels_of(labels)
    bucket_labels = labels_of({**dict(base), "le": _le_text(le)})
    encoded = encode_labels(base)
    rows = [
        (f"{name}_bucket", encode_labels(bucket_labels), 1.0),
        (f"{name}_count", encoded, 1.0),
        (f"{name}_sum", encoded, max(value, 0.0)),
    ]
    _upsert(session, rows, replace=False)


def _le_text(le: float) -> str:
    return "+Inf" if math.isinf(le) else repr(float(le))


def read_samples(session: Session) -> list[tuple[str, dict[str, str], float]]:
    """Every stored sample: (name, labels, value)."""
    rows = session.exec(select(MetricSample)).all()
    return [(r.name, decode_labels(r.labels), r.value) for r in rows]


def flush() -> int:
    """Write this process's pending counters and gauges to the catalog; the number of
    samples written. On a database error they are kept for the next flush."""
    taken, gauges = counters.drain()
    if not taken and not gauges:
        return 0
    added = [(name, encode_labels(labels), amount) for (name, labels), amount in taken.items()]
    values = [(name, encode_labels(labels), value) for (name, labels), value in gauges.items()]
    try:
        with session_scope() as session:
            _upsert(session, added, replace=False)
            _upsert(session, values, replace=True)
    except Exception:
        counters.restore(taken, gauges)
        logger.warning("metric samples not written (kept for the next try)", exc_info=True)
        return 0
    return len(added) + len(values)


_flusher: threading.Thread | None = None
_flusher_lock = threading.Lock()
_stop = threading.Event()


def start_flusher(interval: float) -> None:
    """Flush every `interval` seconds in a daemon thread, and once more at exit (idempotent)."""
    global _flusher
    with _flusher_lock:
        if _flusher is not None and _flusher.is_alive():
            return
        _stop.clear()
        _flusher = threading.Thread(
            target=_flush_every, args=(interval,), name="slices-bi-metrics", daemon=True
        )
        _flusher.start()
        atexit.register(flush)


def stop_flusher() -> None:
    """Stop the flusher thread after one last flush."""
    global _flusher
    with _flusher_lock:
        thread, _flusher = _flusher, None
    _stop.set()
    if thread is not None:
        thread.join(timeout=10)
    flush()


def _flush_every(interval: float) -> None:
    while not _stop.wait(interval):
        flush()
