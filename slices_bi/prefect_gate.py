"""Prefect API writes of one machine's slices-bi processes, one at a time.

A stock SQLite-backed Prefect server (`prefect server start`; not the one `up` runs, see
`slices_bi.prefect_server`) takes one writer at a time, and answers a write that loses the
race (most often a flow-run creation, which reads before it writes) with 503 "database is
locked"; its client then waits 2, 4, 8 s before trying again. A burst of fifty requests is
fifty creations racing fifty runs' state changes. So the API (run creations) and the worker
(claims, state changes of its runs, concurrency slots) send their writes one at a time,
across processes: a lock file named by the setting `prefect_write_lock`. Reads are never
held back. A PostgreSQL-backed Prefect server takes concurrent writes: leave the setting
unset there.
"""

from __future__ import annotations

import fcntl
import os
import threading
from typing import Any

import httpx

from slices_bi.settings import get_settings

# Prefect's read endpoints that are POSTs (a filter in the body).
_READ_POSTS = (
    "/filter",
    "/count",
    "/paginate",
    "/get_scheduled_flow_runs",
    "/history",
    "/lateness",
)
_in_process = threading.Lock()
_descriptors: dict[str, int] = {}


def _descriptor(path: str) -> int:
    fd = _descriptors.get(path)
    if fd is None:
        fd = _descriptors[path] = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    return fd


def is_write(request: httpx.Request) -> bool:
    """True for a request that changes the Prefect server's database."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return False
    return not request.url.path.endswith(_READ_POSTS)


class GatedTransport(httpx.HTTPTransport):
    """An httpx transport that sends writes one at a time across the processes sharing
    `lock_path` (a thread lock within the process, `flock` across processes)."""

    def __init__(self, lock_path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lock_path = lock_path

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not is_write(request):
            return super().handle_request(request)
        with _in_process:
            fd = _descriptor(self.lock_path)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                response = super().handle_request(request)
                response.read()  # the write is done when its answer is in
                return response
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)


def httpx_settings() -> dict[str, Any] | None:
    """`httpx_settings` for a Prefect client of this process: gated when the setting asks."""
    path = get_settings().prefect_write_lock
    if path is None:
        return None
    return {"transport": GatedTransport(str(path))}
