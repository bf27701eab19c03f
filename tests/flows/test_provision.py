"""provision-resources against devcloud, the catalog database and a real Prefect server."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
from openstack.connection import Connection
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.logging.handlers import APILogHandler
from prefect.states import State

from slices_bi.catalog import lifecycle
from slices_bi.catalog.models import ResourceStatus, TaskStatus
from slices_bi.flows.provision import provision_resources
from slices_bi.settings import get_settings
from tests.flows.helpers import (
    SECRET,
    USER_DATA,
    all_floating_ips,
    all_servers,
    make_provision_task,
    resource_row,
    server_made_by_an_earlier_run,
    servers_named,
    task_row,
    user_data_row,
)

SITE = "tld-city-bp1"


def run(task_id: str) -> State[Any]:
    return provision_resources(task_id=task_id, return_state=True)


def flow_run_id(state: State[Any]) -> Any:
    return state.state_details.flow_run_id


def assert_failed_and_clean(state: State[Any], made: Any, conn: Connection, reason: str) -> Any:
    """The run Failed, the task failed naming the resource, nothing left in the cloud."""
    assert state.is_failed()
    task = task_row(made.task_id)
    assert task.status == TaskStatus.FAILED
    assert made.resource_id in task.message
    assert reason in task.message
    row = resource_row(made.resource_id)
    assert (row.status, row.status_reason) == (ResourceStatus.FAILED, reason)
    assert user_data_row(made.resource_id) is None
    assert servers_named(conn, made.resource_id) == []
    assert all_floating_ips(conn) == []
    return row


def test_happy_path(cloud: Any, conn: Connection) -> None:
    made = make_provision_task()
    cloud.reset_counters()
    started = time.monotonic()
    state = run(made.task_id)
    elapsed = time.monotonic() - started
    calls = cloud.counters()  # the flow's own calls (fresh connection: auth + discovery)
    assert state.is_completed(), state.message

    task = task_row(made.task_id)
    assert (task.status, task.completed) == (TaskStatus.FINISHED, 100)
    assert task.flow_run_id == str(flow_run_id(state))
    row = resource_row(made.resource_id)
    assert row.status == ResourceStatus.ACTIVE
    assert row.private_ipv4
    assert row.private_ipv4.startswith("10.0.0.")
    assert row.public_ipv4_address is None
    assert row.floating_ip_id is None
    assert user_data_row(made.resource_id) is None

    [server] = servers_named(conn, made.resource_id)
    assert server.id == row.server_id
    assert server.status == "ACTIVE"
    assert server.metadata == {
        "slices_bi_site": SITE,
        "slices_bi_resource": made.resource_id,
        "slices_bi_experiment": made.experiment_id,
    }
    assert server.tags == [f"slices-bi-site:{SITE}"]
    full = conn.compute.get_server(server.id)
    assert base64.b64decode(full.user_data).decode() == USER_DATA

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(flow_run_id(state))
        assert flow_run.state is not None
        assert flow_run.state.is_completed()
        # One task run per step, whatever the number of VMs (recorded by the server soon).
        steps = {
            "lookup-catalog",
            "resolve-network",
            "pre-flight",
            "create-servers",
            "wait-for-active",
        }
        steps.add("record-addresses")
        deadline = time.monotonic() + 30
        while True:
            names = sorted(
                t.name.rsplit("-", 1)[0]  # Prefect adds "-<suffix>" to the task name
                for t in client.read_task_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id]))
                )
            )
            if len(names) == len(steps) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert set(names) == steps
    print(f"\none VM: {elapsed:.2f} s, {sum(calls.values())} cloud calls: {calls}")
    assert calls["POST /compute/v2.1/servers"] == 1


def test_public_ipv4_gets_a_floating_ip(cloud: Any, conn: Connection) -> None:
    made = make_provision_task(public_ipv4=True)
    state = run(made.task_id)
    assert state.is_completed(), state.message
    row = resource_row(made.resource_id)
    assert row.floating_ip_id
    assert row.public_ipv4_address
    [fip] = all_floating_ips(conn)
    assert (fip.id, fip.floating_ip_address) == (row.floating_ip_id, row.public_ipv4_address)
    assert fip.description == f"slices-bi {made.resource_id}"
    ports = list(conn.network.ports(device_id=row.server_id))
    assert fip.port_id in {p.id for p in ports}


def test_transient_5xx_is_retried(cloud: Any, conn: Connection) -> None:
    made = make_provision_task()
    cloud.reset_counters()
    cloud.set_faults(
        error_count={"compute": 2}, error_status=503, match=r"^POST /compute/v2\.1/servers$"
    )
    state = run(made.task_id)
    assert state.is_completed(), state.message
    assert cloud.counters()["POST /compute/v2.1/servers"] == 3  # 2 refused + 1 served
    assert len(servers_named(conn, made.resource_id)) == 1
    assert resource_row(made.resource_id).status == ResourceStatus.ACTIVE


def test_cloud_flapping_on_every_service_is_ridden_out(cloud: Any, conn: Connection) -> None:
    made = make_provision_task(public_ipv4=True)
    cloud.set_faults(error_count={"*": 1}, reset_count={"compute": 1, "network": 1})
    state = run(made.task_id)
    assert state.is_completed(), state.message
    assert len(servers_named(conn, made.resource_id)) == 1
    assert len(all_floating_ips(conn)) == 1


def test_server_error_fails_with_fault_and_leaves_nothing(cloud: Any, conn: Connection) -> None:
    made = make_provision_task(public_ipv4=True)
    cloud.set_faults(server_error_count=1, server_error_message="No valid host was found. Boom.")
    state = run(made.task_id)
    row = assert_failed_and_clean(state, made, conn, "ServerError")
    assert "No valid host was found. Boom." in row.status_message
    assert all_servers(conn) == []


def test_no_valid_host_is_final_and_says_what_to_do(cloud: Any, conn: Connection) -> None:
    made = make_provision_task()
    cloud.reset_counters()
    message = "No valid host was found. There are not enough hosts available."
    cloud.set_faults(server_error_count=1, server_error_message=message)
    state = run(made.task_id)
    row = assert_failed_and_clean(state, made, conn, "ServerError")
    assert message in row.status_message
    assert "choose a smaller flavor or try later" in row.status_message
    assert cloud.counters()["POST /compute/v2.1/servers"] == 1  # the request's fault: no retry


def test_a_build_the_cloud_lost_is_made_again_once(cloud: Any, conn: Connection) -> None:
    """ERROR without a fault (a compute node restarted mid-build): a new server, once."""
    made = make_provision_task()
    cloud.reset_counters()
    cloud.set_faults(server_error_without_fault_count=1)
    state = run(made.task_id)
    assert state.is_completed(), state.message
    assert cloud.counters()["POST /compute/v2.1/servers"] == 2
    [server] = servers_named(conn, made.resource_id)  # the lost one is gone
    row = resource_row(made.resource_id)
    assert (row.status, row.server_id) == (ResourceStatus.ACTIVE, server.id)
    full = conn.compute.get_server(server.id)
    assert base64.b64decode(full.user_data).decode() == USER_DATA  # same cloud-init


def test_a_build_lost_twice_fails_with_a_message_to_act_on(cloud: Any, conn: Connection) -> None:
    made = make_provision_task()
    cloud.reset_counters()
    cloud.set_faults(server_error_without_fault_count=2)
    state = run(made.task_id)
    row = assert_failed_and_clean(state, made, conn, "ServerBuildInterrupted")
    assert "compute node restarts during the build" in row.status_message
    assert "ask again later" in row.status_message
    assert cloud.counters()["POST /compute/v2.1/servers"] == 2


def test_quota_exhausted_is_found_by_the_pre_flight(cloud: Any, conn: Connection) -> None:
    made = make_provision_task()
    cloud.set_faults(quota={"instances": 0})
    state = run(made.task_id)
    row = assert_failed_and_clean(state, made, conn, "QuotaExceeded")
    assert "instances: requested 1, available 0 (0 of 0 used)" in row.status_message
    assert "instances: requested 1" in task_row(made.task_id).message
    assert "POST /compute/v2.1/servers" not in cloud.counters()


def test_build_timeout_deletes_the_server(
    cloud: Any, conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLICES_BI_SERVER_ACTIVE_TIMEOUT_SECONDS", "1")
    get_settings.cache_clear()
    cloud.set_boot_delay(30)
    made = make_provision_task()
    state = run(made.task_id)
    row = assert_failed_and_clean(state, made, conn, "ServerBuildTimeout")
    assert "did not become ACTIVE within 1 s" in row.status_message


def test_missing_network(cloud: Any, conn: Connection) -> None:
    made = make_provision_task(network_name="no-such-net")
    row = assert_failed_and_clean(run(made.task_id), made, conn, "NetworkNotFound")
    assert "'no-such-net'" in row.status_message


def test_ambiguous_network(cloud: Any, conn: Connection) -> None:
    conn.network.create_network(name="private")
    made = make_provision_task()  # default network "private"
    row = assert_failed_and_clean(run(made.task_id), made, conn, "NetworkAmbiguous")
    assert "named 'private'" in row.status_message


def test_image_gone_from_cloud(cloud: Any, conn: Connection) -> None:
    made = make_provision_task(image_location="Ubuntu 18.04", image_name="Ubuntu 18.04 LTS")
    row = assert_failed_and_clean(run(made.task_id), made, conn, "ImageNotFound")
    assert "image 'Ubuntu 18.04 LTS'" in row.status_message
    assert "not in the cloud any more" in row.status_message


def test_rerun_after_crash_adopts_the_existing_server(cloud: Any, conn: Connection) -> None:
    made = make_provision_task()
    # a run that died right after Nova accepted the server, before saving its id
    lifecycle.start_provisioning(resource_id=made.resource_id)
    made_by_hand = server_made_by_an_earlier_run(conn, made)
    cloud.reset_counters()
    state = run(made.task_id)
    assert state.is_completed(), state.message
    assert cloud.counters().get("POST /compute/v2.1/servers", 0) == 0
    assert [s.id for s in servers_named(conn, made.resource_id)] == [made_by_hand.id]
    row = resource_row(made.resource_id)
    assert (row.status, row.server_id) == (ResourceStatus.ACTIVE, made_by_hand.id)
    assert user_data_row(made.resource_id) is None


def test_running_the_flow_twice_makes_one_server(cloud: Any, conn: Connection) -> None:
    made = make_provision_task()
    assert run(made.task_id).is_completed()
    second = run(made.task_id)
    assert second.is_completed()
    assert len(servers_named(conn, made.resource_id)) == 1
    assert task_row(made.task_id).status == TaskStatus.FINISHED


def test_several_resources_one_fails(cloud: Any, conn: Connection) -> None:
    made = make_provision_task(count=3)
    cloud.set_faults(server_error_count=1)
    state = run(made.task_id)
    assert state.is_failed()
    rows = [resource_row(rid) for rid in made.resource_ids]
    failed = [r for r in rows if r.status == ResourceStatus.FAILED]
    active = [r for r in rows if r.status == ResourceStatus.ACTIVE]
    assert len(failed) == 1
    assert len(active) == 2
    task = task_row(made.task_id)
    assert task.status == TaskStatus.FAILED
    assert task.message.startswith("1 of 3 resource(s) failed")
    assert failed[0].id in task.message
    assert active[0].id not in task.message
    assert sorted(s.name for s in all_servers(conn)) == sorted(r.id for r in active)


def test_resource_deleted_before_the_run_is_left_to_delete(cloud: Any, conn: Connection) -> None:
    made = make_provision_task()
    lifecycle.mark_resource_deleting(resource_id=made.resource_id)
    state = run(made.task_id)
    assert state.is_completed()
    assert all_servers(conn) == []
    assert resource_row(made.resource_id).status == ResourceStatus.DELETING


def test_user_data_never_in_parameters_logs_or_artifacts(cloud: Any, conn: Connection) -> None:
    made = make_provision_task(count=2, public_ipv4=True)
    cloud.set_faults(server_error_count=1)  # one fails: error paths log too
    state = run(made.task_id)
    assert state.is_failed()
    APILogHandler().flush()
    run_id = flow_run_id(state)
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(run_id)
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    assert flow_run.parameters == {"task_id": made.task_id}
    texts = [log.message for log in logs]
    assert any("created server" in t for t in texts)  # the logs were really read
    assert not [t for t in texts if SECRET in t or "chpasswd" in t]
    assert artifacts, "the progress artifact exists"
    assert not [a for a in artifacts if SECRET in str(a.data) or SECRET in str(a.description)]
    assert SECRET not in (flow_run.state.message or "") if flow_run.state else True
    assert SECRET not in task_row(made.task_id).message


def test_resource_failed_by_an_earlier_run_fails_the_task(cloud: Any, conn: Connection) -> None:
    made = make_provision_task(count=2)
    failed, fine = made.resource_ids
    lifecycle.start_provisioning(resource_id=failed)
    server_made_by_an_earlier_run(conn, made, index=0)  # left behind by that run
    lifecycle.mark_resource_failed(resource_id=failed, reason="ServerError", message="no host")
    state = run(made.task_id)
    assert state.is_failed()
    task = task_row(made.task_id)
    assert task.message.startswith("1 of 2 resource(s) failed")
    assert f"{failed} (vm-0): ServerError: no host" in task.message
    assert resource_row(fine).status == ResourceStatus.ACTIVE
    assert servers_named(conn, failed) == []  # the clean-up removed the leftover
