"""The server watcher: one poll of the site's servers answers every waiter."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from openstack.connection import Connection

from slices_bi.openstack import compute, errors
from slices_bi.openstack.watch import ServerWatcher
from slices_bi.settings import get_settings
from tests.flows.helpers import make_provision_task, server_made_by_an_earlier_run

SITE = "tld-city-bp1"


@pytest.fixture
def cloud(devcloud: Any, db: str) -> Iterator[Any]:
    yield devcloud
    devcloud.set_config(boot_delay=0.2)


@pytest.fixture
def conn(cloud: Any) -> Iterator[Connection]:
    connection = cloud.connect()
    yield connection
    connection.close()


def _servers(conn: Connection, count: int) -> list[str]:
    made = make_provision_task(count=count)
    return [str(server_made_by_an_earlier_run(conn, made, i).id) for i in range(count)]


def test_many_waiters_share_the_polls(cloud: Any, conn: Connection) -> None:
    cloud.set_config(boot_delay=2)
    watcher = ServerWatcher(lambda: conn, get_settings().site_id, interval=0.5)
    ids = _servers(conn, 6)
    cloud.reset_counters()
    results: list[dict[str, Any]] = []
    waiters = [
        threading.Thread(target=lambda p=pair: results.append(watcher.wait(p, "active", 30)))
        for pair in (ids[:2], ids[2:4], ids[4:])
    ]
    for waiter in waiters:
        waiter.start()
    for waiter in waiters:
        waiter.join()
    outcomes = {sid: out for result in results for sid, out in result.items()}
    assert sorted(outcomes) == sorted(ids)
    assert all(getattr(out, "status", None) == "ACTIVE" for out in outcomes.values())
    calls = cloud.counters()
    # Each server is read once by id; after that the listing answers everybody.
    assert calls.get("GET /compute/v2.1/servers/{server_id}", 0) == len(ids)
    assert calls.get("GET /compute/v2.1/servers/detail", 0) < 4 * len(ids)


def test_error_timeout_and_deletion(cloud: Any, conn: Connection) -> None:
    cloud.set_config(boot_delay=1)
    watcher = ServerWatcher(lambda: conn, get_settings().site_id, interval=0.3)
    cloud.set_faults(server_error_count=1, server_error_message="No valid host was found.")
    [failing] = _servers(conn, 1)
    cloud.clear_faults()
    [slow] = _servers(conn, 1)
    cloud.set_config(boot_delay=60)
    [stuck] = _servers(conn, 1)
    seen = watcher.wait([failing, slow, stuck], "active", timeout=8)
    assert isinstance(seen[failing], errors.ServerFailedError)
    assert "No valid host was found." in seen[failing].message
    assert getattr(seen[slow], "status", None) == "ACTIVE"
    assert isinstance(seen[stuck], errors.ServerTimeoutError)
    assert "within 8 s" in seen[stuck].message

    for server_id in (failing, slow, stuck):
        compute.delete_server(conn, server_id)
    gone = watcher.wait([failing, slow, stuck], "gone", timeout=30)
    assert gone == {failing: None, slow: None, stuck: None}
    for server_id in gone:
        server = compute.find_server(conn, server_id)
        assert server is None or server.status == "DELETED"  # Nova's moment before the 404
