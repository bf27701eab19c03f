"""The global concurrency limit of server creations."""

from __future__ import annotations

from typing import Any

import pytest
from openstack.connection import Connection
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

from slices_bi.catalog.models import ResourceStatus
from slices_bi.deployments.names import OPENSTACK_CONCURRENCY_LIMIT
from slices_bi.flows.limits import ensure_openstack_limit
from slices_bi.flows.provision import provision_resources
from tests.flows.helpers import all_servers, make_provision_task, resource_row


def read_limit() -> Any:
    with get_client(sync_client=True) as client:
        return client.read_global_concurrency_limit_by_name(OPENSTACK_CONCURRENCY_LIMIT)


def test_ensure_is_idempotent_and_updates(openstack_limit: str) -> None:
    try:
        ensure_openstack_limit(3)
        ensure_openstack_limit(3)
        assert (read_limit().limit, read_limit().active) == (3, True)
        with get_client(sync_client=True) as client:
            client.update_global_concurrency_limit(
                OPENSTACK_CONCURRENCY_LIMIT, GlobalConcurrencyLimitUpdate(active=False)
            )
        ensure_openstack_limit(5)
        assert (read_limit().limit, read_limit().active) == (5, True)
        with pytest.raises(ValueError, match="at least one slot"):
            ensure_openstack_limit(0)
    finally:
        ensure_openstack_limit(4)


def test_a_batch_larger_than_the_limit_shares_its_slots(cloud: Any, conn: Connection) -> None:
    ensure_openstack_limit(2)  # e.g. another worker started with a smaller setting
    try:
        made = make_provision_task(count=5)
        state = provision_resources(task_id=made.task_id, return_state=True)
        assert state.is_completed(), state.message
        assert len(all_servers(conn)) == 5
    finally:
        ensure_openstack_limit(4)


def test_missing_limit_stops_server_creation(cloud: Any, conn: Connection) -> None:
    """strict=True: without the limit no server is made (a silent no-op would uncap the cloud)."""
    with get_client(sync_client=True) as client:
        client.delete_global_concurrency_limit_by_name(OPENSTACK_CONCURRENCY_LIMIT)
    try:
        made = make_provision_task()
        state = provision_resources(task_id=made.task_id, return_state=True)
        assert state.is_failed()
        assert resource_row(made.resource_id).status == ResourceStatus.FAILED
        assert all_servers(conn) == []
    finally:
        ensure_openstack_limit(4)
    assert read_limit().limit == 4
