"""One poll of the site's servers answers every wait of the process.

Every flow of a worker waits for servers: to become ACTIVE after a create, to be gone
after a delete. Polling each server on its own costs one call per server per interval;
here one thread lists the site's servers that changed since the oldest change it still
waits on (Nova's `changes-since`, which also returns servers deleted meanwhile) and wakes
the waiters. A server seen for the first time is read once by id, which gives its
`updated` time; a server the listing stops mentioning while a deletion waits on it is read
by id again (404: gone).

`ServerWatcher.wait(...)` returns, for each server id, the server once ACTIVE (goal
"active"), None once gone (goal "gone"), or the `CloudError` that ends its wait: ERROR
(`ServerFailedError`), vanished while building (`NotFoundError`), out of time
(`ServerTimeoutError`). A cloud that does not answer until the deadline raises its last
`TransientCloudError` instead, so the caller retries.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from openstack.compute.v2.server import Server
from openstack.connection import Connection

from slices_bi.openstack import compute, errors
from slices_bi.openstack.errors import CloudError, TransientCloudError, cloud_call

logger = logging.getLogger(__name__)

Goal = Literal["active", "gone"]
Outcome = Server | CloudError | None
_KEEP_WAITING = object()
GONE_STATUSES = ("DELETED", "SOFT_DELETED", "SHELVED_OFFLOADED")
# Polls a server may go unmentioned in the listing before a deletion wait reads it by id.
UNSEEN_POLLS_BEFORE_GET = 2


@dataclass
class _Wait:
    goal: Goal
    pending: set[str]
    deadline: float
    timeout: float
    results: dict[str, Outcome] = field(default_factory=dict)
    transient: TransientCloudError | None = None
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Known:
    status: str = ""
    updated: str = ""
    unseen: int = 0
    server: Server | None = None


class ServerWatcher:
    """Waits on servers of one site for every thread of the process (see the module doc)."""

    def __init__(
        self, connect: Callable[[], Connection], site_id: str, interval: float = 1.0
    ) -> None:
        self._connect = connect
        self._site_tag = compute.site_tag(site_id)
        self._interval = interval
        self._lock = threading.Condition()
        self._waits: list[_Wait] = []
        self._known: dict[str, _Known] = {}
        self._thread: threading.Thread | None = None

    def wait(
        self,
        server_ids: Iterable[str],
        goal: Goal,
        timeout: float,
        on_tick: Callable[[], None] | None = None,
        tick_seconds: float = 15.0,
    ) -> dict[str, Outcome]:
        """Block until every server reached `goal` or failed, or `timeout` passed; calls
        `on_tick` every `tick_seconds` meanwhile (the caller's sign of life)."""
        wait = _Wait(
            goal=goal,
            pending=set(server_ids),
            deadline=time.monotonic() + timeout,
            timeout=timeout,
        )
        if not wait.pending:
            return {}
        with self._lock:
            self._waits.append(wait)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="slices-bi-server-watch", daemon=True
                )
                self._thread.start()
            self._lock.notify_all()
        while not wait.done.wait(tick_seconds):
            if on_tick is not None:
                on_tick()
        if wait.transient is not None:
            raise wait.transient
        return wait.results

    # --- the polling thread --------------------------------------------------------------

    def _run(self) -> None:
        delay = 0.25
        while True:
            with self._lock:
                while not self._waits:
                    self._lock.wait()
                    delay = 0.25
                wanted = set().union(*(w.pending for w in self._waits))
            try:
                self._poll(wanted)
                last_error: TransientCloudError | None = None
            except TransientCloudError as exc:
                logger.info("server watch: the cloud did not answer: %s", exc)
                last_error = exc
            except Exception:  # a bug must not leave waiters hanging: they time out
                logger.exception("server watch: poll failed")
                last_error = None
            self._settle(last_error)
            time.sleep(delay)
            delay = min(delay * 1.6, self._interval)

    def _poll(self, wanted: set[str]) -> None:
        conn = self._connect()
        new = [sid for sid in wanted if sid not in self._known]
        for server_id in new:
            self._read_one(conn, server_id)
        tracked = [self._known[s] for s in wanted if s in self._known and self._known[s].updated]
        if tracked and len(new) < len(wanted):
            since = min(k.updated for k in tracked)
            with cloud_call(site_tag=self._site_tag):
                listed = list(
                    conn.compute.servers(details=True, tags=self._site_tag, changes_since=since)
                )
            seen = {str(s.id) for s in listed}
            for server in listed:
                if str(server.id) in wanted:
                    self._note(str(server.id), server)
            for server_id in wanted:
                known = self._known.get(server_id)
                if known is None or server_id in seen or server_id in new:
                    continue
                known.unseen += 1
                if known.unseen >= UNSEEN_POLLS_BEFORE_GET and self._waited_gone(server_id):
                    self._read_one(conn, server_id)

    def _read_one(self, conn: Connection, server_id: str) -> None:
        server = compute.find_server(conn, server_id)
        if server is None:
            self._known[server_id] = _Known(status="DELETED")
        else:
            self._note(server_id, server)

    def _note(self, server_id: str, server: Server) -> None:
        self._known[server_id] = _Known(
            status=(server.status or "").upper(),
            updated=str(server.updated_at or server.created_at or ""),
            server=server,
        )

    def _waited_gone(self, server_id: str) -> bool:
        with self._lock:
            return any(w.goal == "gone" and server_id in w.pending for w in self._waits)

    def _settle(self, transient: TransientCloudError | None) -> None:
        now = time.monotonic()
        with self._lock:
            for wait in list(self._waits):
                for server_id in list(wait.pending):
                    outcome = self._outcome(wait.goal, server_id)
                    if outcome is not _KEEP_WAITING:
                        wait.results[server_id] = outcome  # type: ignore[assignment]
                        wait.pending.discard(server_id)
                if wait.pending and now >= wait.deadline:
                    if transient is not None:
                        wait.transient = transient
                    for server_id in wait.pending:
                        wait.results[server_id] = _timeout(wait.goal, server_id, wait.timeout)
                    wait.pending.clear()
                if not wait.pending:
                    wait.done.set()
                    self._waits.remove(wait)
            still = set().union(*(w.pending for w in self._waits)) if self._waits else set()
            for server_id in list(self._known):
                if server_id not in still:
                    del self._known[server_id]

    def _outcome(self, goal: Goal, server_id: str) -> Outcome | object:
        """The outcome of `server_id`'s wait, or `_KEEP_WAITING`."""
        known = self._known.get(server_id)
        if known is None:
            return _KEEP_WAITING
        if goal == "gone":
            return None if known.status in GONE_STATUSES else _KEEP_WAITING
        if known.status == "ACTIVE":
            return known.server
        if known.status == "ERROR":
            return compute.build_failure(known.server, server_id)
        if known.status in GONE_STATUSES:
            return errors.NotFoundError(
                f"server {server_id} is {known.status}",
                reason=errors.SERVER_NOT_FOUND,
                server_id=server_id,
            )
        return _KEEP_WAITING


def _timeout(goal: Goal, server_id: str, timeout: float) -> CloudError:
    if goal == "gone":
        return errors.ServerTimeoutError(
            f"server {server_id} was still there {timeout:g} s after its deletion",
            reason=errors.SERVER_DELETE_TIMEOUT,
            server_id=server_id,
        )
    return errors.ServerTimeoutError(
        f"server {server_id} did not become ACTIVE within {timeout:g} s", server_id=server_id
    )


_watchers: dict[str, ServerWatcher] = {}
_watchers_lock = threading.Lock()


def get_watcher(connect: Callable[[], Connection], site_id: str) -> ServerWatcher:
    """The process-wide watcher of `site_id`'s servers."""
    with _watchers_lock:
        watcher = _watchers.get(site_id)
        if watcher is None:
            watcher = _watchers[site_id] = ServerWatcher(connect, site_id)
        return watcher
