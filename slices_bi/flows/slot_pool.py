"""Slots of the global concurrency limit that a worker holds for a moment and shares among
its threads.

Taking a slot for each server creation is two writes to the Prefect server (take, give
back) per creation: for fifty one-VM requests at once, a hundred writes that a SQLite-backed
server serves one at a time. Here the worker takes slots in small leases (`CHUNK` at a
time, never more than the limit has), lends them to its creation steps, and gives them back
once no step has used them for `LINGER_SECONDS`. The cap still holds across workers: every
slot a thread uses is one the Prefect server has leased to this worker. Leases are renewed
while held; a worker that dies holding them loses them when they end (`LEASE_SECONDS`), or
at once when it starts again: the ids of the leases held are kept in a file
(`record_leases_in`), and the next life gives back what the last one held, as it hands back
its runs.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound

from slices_bi import prefect_gate
from slices_bi.deployments.names import OPENSTACK_CONCURRENCY_LIMIT
from slices_bi.flows.prefect_calls import until_served

logger = logging.getLogger(__name__)

CHUNK = 4
LINGER_SECONDS = 2.0
# A worker killed holding slots loses them within LEASE_SECONDS plus one pass of Prefect's
# repossessor (15 s): short, so that its successor is not kept waiting for slots of the dead.
LEASE_SECONDS = 60.0  # the shortest lease the Prefect server grants
RENEW_EVERY_SECONDS = 20.0


class SlotPool:
    """The slots of `OPENSTACK_CONCURRENCY_LIMIT` this process holds (see the module doc)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._leases: dict[UUID, int] = {}
        self._in_use = 0
        self._acquiring = False
        self._idle_since = time.monotonic()
        self._client: Any = None
        self._keeper: threading.Thread | None = None
        self._record: Path | None = None
        self._record_lock = threading.Lock()

    def record_leases_in(self, path: Path) -> int:
        """Give back the leases that the file names (a last life's), then keep the ids of
        this process's leases in it; returns how many were given back."""
        given_back = 0
        for line in path.read_text().split() if path.exists() else []:
            try:
                lease_id = UUID(line)
            except ValueError:
                continue
            if self._call(
                lambda lid=lease_id: self._connected().release_concurrency_slots_with_lease(lid)
            ):
                given_back += 1
        self._record = path
        self._write_record()
        return given_back

    def _write_record(self) -> None:
        if self._record is None:
            return
        with self._record_lock:  # the keeper and the lending threads both write it
            with self._cond:
                text = "".join(f"{lease_id}\n" for lease_id in self._leases)
            partial = self._record.with_name(self._record.name + ".new")
            try:
                partial.write_text(text)
                partial.replace(self._record)
            except OSError:  # at worst the next life waits for the leases to end
                logger.warning(
                    "could not record the slot leases in %s", self._record, exc_info=True
                )

    @contextmanager
    def slots(self, wanted: int) -> Iterator[int]:
        """Lend up to `wanted` slots (at least one) for the block; yields how many."""
        lent = self._take(max(1, wanted))
        try:
            yield lent
        finally:
            with self._cond:
                self._in_use -= lent
                if self._in_use == 0:
                    self._idle_since = time.monotonic()
                self._cond.notify_all()

    def _take(self, wanted: int) -> int:
        delay = 0.05
        while True:
            with self._cond:
                while True:
                    free = sum(self._leases.values()) - self._in_use
                    if free > 0:
                        lent = min(free, wanted)
                        self._in_use += lent
                        return lent
                    if not self._acquiring:
                        self._acquiring = True
                        break
                    self._cond.wait()
            try:
                got = self._lease(wanted)
            finally:
                with self._cond:
                    self._acquiring = False
                    self._cond.notify_all()
            if got is not None:
                lease_id, slots = got
                with self._cond:
                    self._leases[lease_id] = slots
                    lent = min(slots, wanted)
                    self._in_use += lent
                    self._cond.notify_all()
                self._write_record()
                self._start_keeper()
                return lent
            # The limit is full (other workers, or our own threads): wait for a slot to free.
            with self._cond:
                self._cond.wait(random.uniform(delay / 2, delay))  # noqa: S311
            delay = min(delay * 2, 1.0)

    def _lease(self, wanted: int) -> tuple[UUID, int] | None:
        """A new lease of slots; None when the limit has none to give now."""
        from prefect.exceptions import PrefectHTTPStatusError

        client = self._connected()
        try:
            limit = client.read_global_concurrency_limit_by_name(OPENSTACK_CONCURRENCY_LIMIT).limit
        except ObjectNotFound:
            raise RuntimeError(
                f"the global concurrency limit {OPENSTACK_CONCURRENCY_LIMIT} is missing "
                "(a worker creates it when it starts): no server is created without it"
            ) from None
        with self._cond:
            held = sum(self._leases.values())
        slots = min(max(wanted, CHUNK), limit - held)
        if slots < 1:
            return None  # this process holds the whole limit: its own threads give some back
        try:
            response = until_served(
                lambda: client.increment_concurrency_slots_with_lease(
                    names=[OPENSTACK_CONCURRENCY_LIMIT],
                    slots=slots,
                    mode="concurrency",
                    lease_duration=LEASE_SECONDS,
                )
            )
        except PrefectHTTPStatusError as exc:
            if exc.response.status_code == 423:  # taken by other workers
                return None
            raise
        return UUID(response.json()["lease_id"]), slots

    def _connected(self) -> Any:
        if self._client is None:
            client = get_client(sync_client=True, httpx_settings=prefect_gate.httpx_settings())
            client.__enter__()
            self._client = client
        return self._client

    def _start_keeper(self) -> None:
        with self._cond:
            if self._keeper is None or not self._keeper.is_alive():
                self._keeper = threading.Thread(
                    target=self._keep, name="slices-bi-slot-pool", daemon=True
                )
                self._keeper.start()

    def _keep(self) -> None:
        """Give the slots back once idle; renew the leases while they are held (for the life
        of the process: a daemon thread)."""
        renewed = time.monotonic()
        while True:
            time.sleep(min(LINGER_SECONDS, RENEW_EVERY_SECONDS) / 2)
            with self._cond:
                idle = self._in_use == 0 and not self._acquiring
                expired = idle and time.monotonic() - self._idle_since >= LINGER_SECONDS
                leases = list(self._leases) if expired else []
                for lease_id in leases:
                    del self._leases[lease_id]
                held = list(self._leases)
            for lease_id in leases:
                self._call(
                    lambda lid=lease_id: self._client.release_concurrency_slots_with_lease(lid)
                )
            if leases:
                self._write_record()
            if held and time.monotonic() - renewed >= RENEW_EVERY_SECONDS:
                for lease_id in held:
                    renewal = self._call(
                        lambda lid=lease_id: self._client.renew_concurrency_lease(
                            lid, LEASE_SECONDS
                        )
                    )
                    if renewal is None:  # the server ended it: its slots are no longer ours
                        with self._cond:
                            self._leases.pop(lease_id, None)
                        self._write_record()
                renewed = time.monotonic()

    def _call(self, call: Any) -> bool | None:
        """True when the call went through, None when the lease has ended already (404),
        False when it failed otherwise (the lease ends by itself at worst)."""
        from prefect.exceptions import PrefectHTTPStatusError

        try:
            until_served(call)
        except PrefectHTTPStatusError as exc:
            if exc.response.status_code == 404:
                return None
            logger.warning("concurrency lease call failed", exc_info=True)
            return False
        except Exception:
            logger.warning("concurrency lease call failed", exc_info=True)
            return False
        return True

    def give_back(self, *, even_in_use: bool = False) -> None:
        """Give back every slot no step uses now (tests that change the limit); with
        `even_in_use`, every slot held (a process about to exit)."""
        with self._cond:
            leases = [] if self._in_use and not even_in_use else list(self._leases)
            for lease_id in leases:
                del self._leases[lease_id]
        for lease_id in leases:
            self._call(lambda lid=lease_id: self._client.release_concurrency_slots_with_lease(lid))
        if leases:
            self._write_record()


def lease_record(data_dir: Path, worker_name: str) -> Path:
    """The file in which the worker `worker_name` keeps the ids of its slot leases."""
    return data_dir / f"{re.sub(r'[^A-Za-z0-9._-]', '_', worker_name)}.slot-leases"


_pool = SlotPool()
give_back = _pool.give_back
record_leases_in = _pool.record_leases_in


def openstack_slots(wanted: int = 1) -> Any:
    """Up to `wanted` slots (at least one) of the process's pool, for a `with` block."""
    return _pool.slots(wanted)
