"""Job leases: one run of a scheduled job at a time, and a dead holder is taken over."""

from __future__ import annotations

from datetime import timedelta

import pytest

from slices_bi.catalog import jobs

TTL = timedelta(minutes=5)


@pytest.mark.usefixtures("db")
def test_one_holder_at_a_time_renewals_and_release() -> None:
    assert jobs.take_lease("job", "run-a", TTL) is not None
    assert jobs.take_lease("job", "run-b", TTL) is None  # held
    assert jobs.take_lease("job", "run-a", TTL) is not None  # renewed by its holder
    held = jobs.lease_holder("job")
    assert held is not None
    assert held[0] == "run-a"
    jobs.release_lease("job", "run-b")  # not the holder: nothing happens
    assert jobs.lease_holder("job") is not None
    jobs.release_lease("job", "run-a")
    assert jobs.lease_holder("job") is None
    assert jobs.take_lease("job", "run-b", TTL) is not None


@pytest.mark.usefixtures("db")
def test_an_expired_lease_is_free_and_a_dead_holder_can_be_replaced() -> None:
    assert jobs.take_lease("job", "dead-run", timedelta(seconds=-1)) is not None
    assert jobs.lease_holder("job") is None  # expired
    assert jobs.take_lease("job", "run-b", TTL) is not None
    assert not jobs.take_over_lease("job", "dead-run", "run-c", TTL)  # moved on already
    assert jobs.take_over_lease("job", "run-b", "run-c", TTL)
    held = jobs.lease_holder("job")
    assert held is not None
    assert held[0] == "run-c"
