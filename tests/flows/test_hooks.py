"""Flow state hooks: run state -> task row, clean-up after a crash or cancellation."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from openstack.connection import Connection
from prefect.client.schemas.objects import FlowRun
from prefect.states import Cancelled, Completed, Crashed, Failed, Running

from slices_bi.catalog import lifecycle
from slices_bi.catalog.models import ResourceStatus, TaskStatus
from slices_bi.flows import hooks
from slices_bi.flows.deprovision import delete_resource
from slices_bi.flows.provision import provision_resources
from slices_bi.openstack import compute
from slices_bi.settings import get_settings
from tests.flows.helpers import (
    make_provision_task,
    resource_row,
    server_made_by_an_earlier_run,
    servers_named,
    task_row,
)

SITE = "tld-city-bp1"


def flow_run_for(task_id: str | None) -> FlowRun:
    parameters = {"task_id": task_id} if task_id else {}
    return FlowRun(
        id=uuid.uuid4(), name=f"provision-{task_id}", flow_id=uuid.uuid4(), parameters=parameters
    )


@pytest.mark.usefixtures("db")
def test_states_map_onto_the_task_row() -> None:
    made = make_provision_task()
    run = flow_run_for(made.task_id)
    hooks.on_running(delete_resource, run, Running())
    row = task_row(made.task_id)
    assert (row.status, row.flow_run_id) == (TaskStatus.RUNNING, str(run.id))
    hooks.on_completion(delete_resource, run, Completed())
    row = task_row(made.task_id)
    assert (row.status, row.completed) == (TaskStatus.FINISHED, 100)
    # a late failure hook does not reopen or rewrite a finished task
    hooks.on_failure(delete_resource, run, Failed(message="late"))
    assert task_row(made.task_id).status == TaskStatus.FINISHED


@pytest.mark.usefixtures("db")
@pytest.mark.parametrize(
    ("hook", "state", "status"),
    [
        (hooks.on_failure, Failed(message="boom: the run failed"), TaskStatus.FAILED),
        (hooks.on_cancellation, Cancelled(message="cancelled by operator"), TaskStatus.CANCELLED),
    ],
)
def test_final_states_carry_the_message(hook: Any, state: Any, status: TaskStatus) -> None:
    made = make_provision_task()
    hook(delete_resource, flow_run_for(made.task_id), state)
    row = task_row(made.task_id)
    assert (row.status, row.message) == (status, state.message)


def test_a_crashed_run_is_left_to_be_resumed(cloud: Any, conn: Connection) -> None:
    """A crash settles nothing: the sweep schedules the run again and it adopts the server."""
    made = make_provision_task(public_ipv4=True)
    lifecycle.start_provisioning(resource_id=made.resource_id)
    server = server_made_by_an_earlier_run(conn, made)
    lifecycle.record_server_id(resource_id=made.resource_id, server_id=server.id)

    hooks.on_crashed(provision_resources, flow_run_for(made.task_id), Crashed(message="exit -9"))

    assert compute.find_server(conn, server.id) is not None
    assert resource_row(made.resource_id).status == ResourceStatus.PROVISIONING
    task = task_row(made.task_id)
    assert task.status == TaskStatus.PENDING
    assert task.message == "the run crashed (exit -9); it will be resumed"


def test_cancelled_provision_removes_an_unsaved_server(cloud: Any, conn: Connection) -> None:
    made = make_provision_task(count=2)
    first, second = made.resource_ids
    lifecycle.start_provisioning(resource_id=first)
    lifecycle.mark_resource_active(resource_id=second, private_ipv4="10.0.0.99")
    server = server_made_by_an_earlier_run(conn, made)  # made for `first`, id never saved

    hooks.on_cancellation(provision_resources, flow_run_for(made.task_id), Cancelled())

    compute.wait_for_server_gone(conn, server.id, timeout=10, interval=0.1)
    assert servers_named(conn, first) == []
    assert resource_row(first).status_reason == "ProvisionCancelled"
    assert resource_row(second).status == ResourceStatus.ACTIVE  # finished ones stay
    assert task_row(made.task_id).status == TaskStatus.CANCELLED


@pytest.mark.usefixtures("db")
def test_hooks_never_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    hooks.on_running(provision_resources, flow_run_for(None), Running())  # no task_id
    hooks.on_failure(provision_resources, flow_run_for("task_tld-city-bp1_missing"), Failed())
    made = make_provision_task()
    monkeypatch.setenv("SLICES_BI_DATABASE_URL", "sqlite:////nonexistent-dir/catalog.db")
    get_settings.cache_clear()
    try:
        hooks.on_crashed(provision_resources, flow_run_for(made.task_id), Crashed(message="x"))
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert task_row(made.task_id).status == TaskStatus.PENDING
