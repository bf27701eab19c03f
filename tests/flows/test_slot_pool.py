"""The process's pool of global concurrency slots: shared by its threads, within the limit,
given back when idle."""

from __future__ import annotations

import threading
import time

from prefect.client.orchestration import get_client

from slices_bi.deployments.names import OPENSTACK_CONCURRENCY_LIMIT
from slices_bi.flows import slot_pool
from slices_bi.flows.limits import ensure_openstack_limit, openstack_slots
from tests.e2e.workers import wait_until


def _active() -> int:
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(OPENSTACK_CONCURRENCY_LIMIT)
    return int(limit.active_slots)


def test_threads_share_the_slots_within_the_limit(openstack_limit: str) -> None:
    ensure_openstack_limit(3)
    slot_pool.give_back()
    lock, using, most = threading.Lock(), [0], [0]

    def create() -> None:
        with openstack_slots(1) as lent:
            assert lent == 1
            with lock:
                using[0] += 1
                most[0] = max(most[0], using[0])
            assert _active() <= 3  # what the Prefect server has leased, never past the limit
            time.sleep(0.05)
            with lock:
                using[0] -= 1

    try:
        threads = [threading.Thread(target=create) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert 1 <= most[0] <= 3
        # Given back once nobody used them for a moment.
        wait_until(lambda: _active() == 0, 30, "the slots given back")
    finally:
        ensure_openstack_limit(4)


def test_a_new_life_gives_back_the_slots_its_last_life_held(openstack_limit: str, tmp_path) -> None:
    """A worker killed while holding slots: its next life gives them back at start, instead
    of leaving them taken until their lease ends."""
    record = tmp_path / "worker.slot-leases"
    last_life = slot_pool.SlotPool()
    assert last_life.record_leases_in(record) == 0
    last_life.slots(2).__enter__()  # taken, and never given back: the process "dies" here
    assert _active() >= 2
    assert record.read_text().strip()

    assert slot_pool.SlotPool().record_leases_in(record) >= 1
    assert _active() == 0
    assert record.read_text() == ""
