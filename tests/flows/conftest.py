"""Flow fixtures: devcloud + catalog DB + a real Prefect server, with short delays."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openstack.connection import Connection
from prefect.tasks import Task

from slices_bi.flows import deprovision, limits, preflight_step, provision_steps, slot_pool
from slices_bi.openstack import lookups
from slices_bi.openstack.connection import close_connections
from slices_bi.settings import get_settings

RETRY_DELAY = 0.05


@pytest.fixture(scope="session")
def openstack_limit(prefect_api_url: str) -> str:
    """The global concurrency limit the create-server step needs (strict)."""
    limits.ensure_openstack_limit(4)
    return prefect_api_url


@pytest.fixture
def cloud(
    devcloud: Any, db: str, openstack_limit: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """devcloud in its seeded state, an empty catalog, short timeouts and retry delays."""
    monkeypatch.setenv("SLICES_BI_SERVER_ACTIVE_TIMEOUT_SECONDS", "20")
    monkeypatch.setenv("SLICES_BI_SERVER_DELETE_TIMEOUT_SECONDS", "20")
    get_settings.cache_clear()
    close_connections()
    lookups.forget()  # tests change images and networks under the flows
    slot_pool.give_back()  # and the concurrency limit
    for module in (provision_steps, deprovision, preflight_step):
        for value in vars(module).values():
            if isinstance(value, Task) and value.retries:
                monkeypatch.setattr(value, "retry_delay_seconds", [RETRY_DELAY] * value.retries)
    yield devcloud
    close_connections()
    get_settings.cache_clear()


@pytest.fixture
def conn(cloud: Any) -> Iterator[Connection]:
    """A connection of the test itself, to look at (and tamper with) devcloud."""
    connection = cloud.connect()
    yield connection
    connection.close()
