"""The Prefect global concurrency limit that caps server creations across every worker.

The flows enter `openstack_slots()` around their Nova create calls. The limit must exist
(the worker start-up and the tests call `ensure_openstack_limit`): without it no server is
created, where Prefect's own `concurrency()` would silently let every call through. Slots
are taken with a lease (Prefect's `increment-with-lease`), so a worker that dies holding
them frees them when the lease ends; the calls go through this process's Prefect write
gate (`slices_bi.prefect_gate`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
)
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from slices_bi import prefect_gate
from slices_bi.deployments.names import OPENSTACK_CONCURRENCY_LIMIT

# A step holds its slots for its creations only (seconds); the lease outlives that.
LEASE_SECONDS = 300.0
RACES_TOLERATED = 20

logger = logging.getLogger(__name__)


def ensure_openstack_limit(limit: int) -> None:
    """Create the global concurrency limit `OPENSTACK_CONCURRENCY_LIMIT` with `limit` slots,
    or set an existing one to `limit` slots and active. Idempotent; safe to race.

    Raises ValueError for `limit < 1`, and Prefect client errors when the API is down.
    """
    if limit < 1:
        raise ValueError("the OpenStack concurrency limit needs at least one slot")
    name = OPENSTACK_CONCURRENCY_LIMIT
    with get_client(sync_client=True) as client:
        try:
            current = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=limit, active=True)
                )
                logger.info("created global concurrency limit %s (%d slots)", name, limit)
                return
            except ObjectAlreadyExists:
                current = client.read_global_concurrency_limit_by_name(name)
        if current.limit != limit or not current.active:
            client.update_global_concurrency_limit(
                name, GlobalConcurrencyLimitUpdate(limit=limit, active=True)
            )
            logger.info("set global concurrency limit %s to %d slots", name, limit)


@contextmanager
def openstack_slots(wanted: int = 1) -> Iterator[int]:
    """Hold up to `wanted` slots of `OPENSTACK_CONCURRENCY_LIMIT`; yields how many are held.

    A step that creates many servers takes its slots in one call and shares them among its
    threads: one acquisition per step, not one per server, for the Prefect server to serve.
    It never asks for more slots than the limit has (a worker started with another setting
    may have changed it). Raises RuntimeError when the limit does not exist.
    """
    with get_client(sync_client=True, httpx_settings=prefect_gate.httpx_settings()) as client:
        try:
            limit = client.read_global_concurrency_limit_by_name(OPENSTACK_CONCURRENCY_LIMIT)
        except ObjectNotFound:
            raise RuntimeError(
                f"the global concurrency limit {OPENSTACK_CONCURRENCY_LIMIT} is missing "
                "(a worker creates it when it starts): no server is created without it"
            ) from None
        occupy = max(1, min(wanted, int(limit.limit)))
        response = _until_served(
            lambda: client.increment_concurrency_slots_with_lease(
                names=[OPENSTACK_CONCURRENCY_LIMIT],
                slots=occupy,
                mode="concurrency",
                lease_duration=LEASE_SECONDS,
            )
        )
        lease_id = UUID(response.json()["lease_id"])
        try:
            yield occupy
        finally:
            _until_served(lambda: client.release_concurrency_slots_with_lease(lease_id))


def _until_served(call: Callable[[], Any]) -> Any:
    """`call()` again while the slots are taken (423) or the server lost a write race (503,
    on a SQLite-backed server): at once, not after Prefect's 2, 4, 8 s back-off."""
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    delay, lost_races = 0.05, 0
    while True:
        try:
            with temporary_settings({PREFECT_CLIENT_MAX_RETRIES: 0}):
                return call()
        except PrefectHTTPStatusError as exc:
            status = exc.response.status_code
            lost_races += status == 503
            if status not in (423, 503) or lost_races > RACES_TOLERATED:
                raise
            retry_after = exc.response.headers.get("Retry-After")
            pause = min(float(retry_after), 2.0) if retry_after else delay
            time.sleep(random.uniform(pause / 2, pause))  # noqa: S311
            delay = min(delay * 2, 1.0)
