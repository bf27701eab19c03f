"""The Prefect global concurrency limit that caps server creations across every worker.

The flows enter `openstack_slots()` around their Nova create calls with `strict=True`, so
the limit must exist: the worker start-up (and the tests) call `ensure_openstack_limit`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
)
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from slices_bi.deployments.names import OPENSTACK_CONCURRENCY_LIMIT

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


def openstack_limit() -> int:
    """The slots the global limit has now (workers started with another setting may have
    changed it: asking for more than it has would wait for ever)."""
    with get_client(sync_client=True) as client:
        try:
            limit = client.read_global_concurrency_limit_by_name(OPENSTACK_CONCURRENCY_LIMIT)
        except ObjectNotFound:
            raise RuntimeError(
                f"the global concurrency limit {OPENSTACK_CONCURRENCY_LIMIT} is missing "
                "(a worker creates it when it starts): no server is created without it"
            ) from None
    return int(limit.limit)


@contextmanager
def openstack_slots(wanted: int = 1) -> Iterator[int]:
    """Hold up to `wanted` slots of `OPENSTACK_CONCURRENCY_LIMIT` (strict: the limit must
    exist); yields how many are held.

    A step that creates many servers takes its slots in one call and shares them among its
    threads: one acquisition per step, not one per server, for the Prefect server to serve.
    """
    occupy = max(1, min(wanted, openstack_limit()))
    with concurrency(OPENSTACK_CONCURRENCY_LIMIT, occupy=occupy, strict=True):
        yield occupy
