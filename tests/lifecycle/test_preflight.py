"""Pre-flight of provision-resources: a request that does not fit fails at once, whole,
and nothing is created (devcloud quotas set through its fault endpoint)."""

from __future__ import annotations

from typing import Any

from openstack.connection import Connection

from slices_bi.catalog.models import ResourceStatus, TaskStatus
from slices_bi.flows.provision import provision_resources
from tests.flows.helpers import (
    all_floating_ips,
    all_servers,
    make_provision_task,
    resource_row,
    task_row,
)

CREATE = "POST /compute/v2.1/servers"


def test_eight_vms_with_room_for_five_fail_at_once_and_nothing_is_created(
    cloud: Any, conn: Connection
) -> None:
    cloud.set_faults(quota={"instances": 5})
    made = make_provision_task(count=8)
    cloud.reset_counters()
    state = provision_resources(task_id=made.task_id, return_state=True)
    assert state.is_failed()
    counters = cloud.counters()
    assert CREATE not in counters
    assert counters.get("GET /compute/v2.1/limits") == 1
    assert all_servers(conn) == []
    for rid in made.resource_ids:
        row = resource_row(rid)
        assert (row.status, row.status_reason) == (ResourceStatus.FAILED, "QuotaExceeded")
        assert "instances: requested 8, available 5 (0 of 5 used)" in row.status_message
        assert "nothing was created" in row.status_message
    task = task_row(made.task_id)
    assert task.status == TaskStatus.FAILED
    assert "QuotaExceeded" in task.message


def test_quota_counts_what_is_already_used_and_every_kind(cloud: Any, conn: Connection) -> None:
    first = make_provision_task(count=2)
    assert provision_resources(task_id=first.task_id, return_state=True).is_completed()
    # m1.small: 1 vCPU, 2048 MiB. Two are running; room for one more by RAM, none by IPs.
    cloud.set_faults(quota={"instances": 10, "ram": 3 * 2048, "floating_ips": 0})
    made = make_provision_task(count=2, public_ipv4=True)
    cloud.reset_counters()
    state = provision_resources(task_id=made.task_id, return_state=True)
    assert state.is_failed()
    assert CREATE not in cloud.counters()
    message = resource_row(made.resource_id).status_message
    assert "ram: requested 4096 MiB, available 2048 MiB (4096 of 6144 used)" in message
    assert "floating_ips: requested 2, available 0 (0 of 0 used)" in message
    assert "instances" not in message
    assert len(all_servers(conn)) == 2
    assert all_floating_ips(conn) == []


def test_a_fitting_request_goes_on(cloud: Any, conn: Connection) -> None:
    cloud.set_faults(quota={"instances": 2, "cores": 2, "ram": 4096, "floating_ips": 1})
    made = make_provision_task(count=2)
    state = provision_resources(task_id=made.task_id, return_state=True)
    assert state.is_completed(), state.message
    assert {resource_row(r).status for r in made.resource_ids} == {ResourceStatus.ACTIVE}


def test_image_that_does_not_fit_the_flavor_in_the_cloud_fails_that_vm_only(
    cloud: Any, conn: Connection
) -> None:
    # The catalog says nothing against it; the cloud's image needs 3 GB, m1.tiny has 1.
    made = make_provision_task(flavor_location="m1.tiny")
    cloud.reset_counters()
    state = provision_resources(task_id=made.task_id, return_state=True)
    assert state.is_failed()
    assert CREATE not in cloud.counters()
    row = resource_row(made.resource_id)
    assert row.status_reason == "FlavorTooSmall"
    assert "needs 3 GB" in row.status_message
