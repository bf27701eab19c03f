"""delete-resource against devcloud, the catalog database and a real Prefect server."""

from __future__ import annotations

from typing import Any

from openstack.connection import Connection

from slices_bi.catalog import lifecycle
from slices_bi.catalog.models import ResourceStatus, TaskStatus
from slices_bi.flows.deprovision import delete_resource
from slices_bi.flows.provision import provision_resources
from slices_bi.openstack import compute
from tests.flows.helpers import (
    all_floating_ips,
    make_delete_task,
    make_provision_task,
    resource_row,
    server_made_by_an_earlier_run,
    servers_named,
    task_row,
)

SITE = "tld-city-bp1"


def provisioned(public_ipv4: bool = False) -> str:
    made = make_provision_task(public_ipv4=public_ipv4)
    assert provision_resources(task_id=made.task_id, return_state=True).is_completed()
    return made.resource_id


def assert_deleted(rid: str, task_id: str) -> None:
    assert resource_row(rid).status == ResourceStatus.DELETED
    task = task_row(task_id)
    assert (task.status, task.completed) == (TaskStatus.FINISHED, 100)


def test_delete_removes_server_and_floating_ip(cloud: Any, conn: Connection) -> None:
    rid = provisioned(public_ipv4=True)
    assert len(servers_named(conn, rid)) == 1
    assert len(all_floating_ips(conn)) == 1
    task_id = make_delete_task(rid)
    state = delete_resource(task_id=task_id, return_state=True)
    assert state.is_completed(), state.message
    assert_deleted(rid, task_id)
    assert servers_named(conn, rid) == []
    assert all_floating_ips(conn) == []

    # a second delete (new task, as the API would open after a retry) is a no-op success
    cloud.reset_counters()
    second = make_delete_task(rid)
    assert delete_resource(task_id=second, return_state=True).is_completed()
    assert_deleted(rid, second)
    assert not [k for k in cloud.counters() if k.startswith(("DELETE", "POST"))]
    # and running the same finished task again changes nothing
    assert delete_resource(task_id=task_id, return_state=True).is_completed()
    assert_deleted(rid, task_id)


def test_server_that_vanished_counts_as_deleted(cloud: Any, conn: Connection) -> None:
    rid = provisioned()
    server_id = resource_row(rid).server_id
    assert server_id
    conn.compute.delete_server(server_id)
    compute.wait_for_server_gone(conn, server_id, timeout=10, interval=0.1)
    task_id = make_delete_task(rid)
    assert delete_resource(task_id=task_id, return_state=True).is_completed()
    assert_deleted(rid, task_id)


def test_server_without_saved_id_is_found_and_deleted(cloud: Any, conn: Connection) -> None:
    made = make_provision_task()
    rid = made.resource_id
    lifecycle.start_provisioning(resource_id=rid)
    # a provision run that crashed after Nova accepted the server, before saving its id
    server_made_by_an_earlier_run(conn, made)
    assert resource_row(rid).server_id is None
    task_id = make_delete_task(rid)
    assert delete_resource(task_id=task_id, return_state=True).is_completed()
    assert_deleted(rid, task_id)
    assert servers_named(conn, rid) == []


def test_transient_errors_during_delete_are_retried(cloud: Any, conn: Connection) -> None:
    rid = provisioned()
    task_id = make_delete_task(rid)
    cloud.reset_counters()
    cloud.set_faults(error_count={"compute": 2}, match=r"^DELETE /compute/")
    assert delete_resource(task_id=task_id, return_state=True).is_completed()
    assert cloud.counters()["DELETE /compute/v2.1/servers/{server_id}"] == 3
    assert_deleted(rid, task_id)
    assert servers_named(conn, rid) == []


def test_delete_timeout_fails_the_task_and_keeps_deleting(
    cloud: Any, conn: Connection, monkeypatch: Any
) -> None:
    from slices_bi.settings import get_settings

    rid = provisioned()
    monkeypatch.setenv("SLICES_BI_SERVER_DELETE_TIMEOUT_SECONDS", "1")
    get_settings.cache_clear()
    cloud.set_delete_delay(2.5)
    task_id = make_delete_task(rid)
    state = delete_resource(task_id=task_id, return_state=True)
    assert state.is_failed()
    task = task_row(task_id)
    assert task.status == TaskStatus.FAILED
    assert "ServerDeleteTimeout" in task.message
    # not marked deleted while the server may still exist; a later delete finishes it
    assert resource_row(rid).status == ResourceStatus.DELETING
    monkeypatch.setenv("SLICES_BI_SERVER_DELETE_TIMEOUT_SECONDS", "10")
    get_settings.cache_clear()
    again = make_delete_task(rid)
    assert delete_resource(task_id=again, return_state=True).is_completed()
    assert_deleted(rid, again)


def test_wrong_task_kind_fails_the_run_and_the_task(cloud: Any) -> None:
    made = make_provision_task()
    state = delete_resource(task_id=made.task_id, return_state=True)
    assert state.is_failed()
    task = task_row(made.task_id)
    assert task.status == TaskStatus.FAILED
    assert "not a delete task" in task.message  # written by the on_failure hook
