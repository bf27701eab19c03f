"""The Prefect global concurrency limit that caps server creations across every worker.

The flows enter `openstack_slots()` around their Nova create calls (the slots come from the
process's pool, `slices_bi.flows.slot_pool`). The limit must exist (the worker start-up and
the tests call `ensure_openstack_limit`): without it no server is created, where Prefect's
own `concurrency()` would silently let every call through.
"""

from __future__ import annotations

import logging

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
)
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from slices_bi.deployments.names import OPENSTACK_CONCURRENCY_LIMIT
from slices_bi.flows import slot_pool

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


openstack_slots = slot_pool.openstack_slots
