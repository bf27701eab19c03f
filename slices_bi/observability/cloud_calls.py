"""Cloud calls as the OpenStack adapter sees them: who listens, and who collects them.

The adapter reports every HTTP answer of the cloud here (`notify`); the flows listen to log
each call with its `x-openstack-request-id` in the run's logs, and `collect()` gathers the
calls made within a block (one resource's step) for its receipt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class CloudCall:
    """One answer of the cloud: no body, no query string, no header but the request id."""

    method: str
    service: str
    path: str
    status: int
    request_id: str | None
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return {
            "method": self.method,
            "service": self.service,
            "path": self.path,
            "status": self.status,
            "request_id": self.request_id,
        }


Listener = Callable[[CloudCall], None]
_listeners: list[Listener] = []
_collected: ContextVar[list[CloudCall] | None] = ContextVar("slices_bi_cloud_calls", default=None)


def add_listener(listener: Listener) -> None:
    """Call `listener` with every cloud call of this process (once per listener)."""
    if listener not in _listeners:
        _listeners.append(listener)


def notify(call: CloudCall) -> None:
    """Report `call` to the collector of the current context and to every listener."""
    collected = _collected.get()
    if collected is not None:
        collected.append(call)
    for listener in list(_listeners):
        listener(call)


@contextmanager
def collect() -> Iterator[list[CloudCall]]:
    """The cloud calls made in this context within the block (threads copying it included)."""
    calls: list[CloudCall] = []
    token = _collected.set(calls)
    try:
        yield calls
    finally:
        _collected.reset(token)
