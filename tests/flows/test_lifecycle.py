"""The state changes of catalog.lifecycle, against the real catalog database."""

from __future__ import annotations

import pytest

from slices_bi.catalog import lifecycle
from slices_bi.catalog.models import ResourceStatus, TaskStatus
from tests.flows.helpers import make_provision_task, resource_row, task_row, user_data_row

pytestmark = pytest.mark.usefixtures("db")


def test_task_runs_progresses_monotonically_and_finishes() -> None:
    made = make_provision_task()
    assert lifecycle.mark_task_running(task_id=made.task_id, flow_run_id="run-1")
    assert lifecycle.set_task_progress(task_id=made.task_id, completed=40) == 40
    assert lifecycle.set_task_progress(task_id=made.task_id, completed=20) == 40
    assert lifecycle.set_task_progress(task_id=made.task_id, completed=250) == 100
    row = task_row(made.task_id)
    assert (row.status, row.completed, row.flow_run_id) == (TaskStatus.RUNNING, 100, "run-1")
    assert lifecycle.finish_task(task_id=made.task_id, message="done")
    row = task_row(made.task_id)
    assert (row.status, row.completed, row.message) == (TaskStatus.FINISHED, 100, "done")


@pytest.mark.parametrize("first", ["finish", "fail", "cancel"])
def test_terminal_task_is_never_reopened_or_rewritten(first: str) -> None:
    made = make_provision_task()
    tid = made.task_id
    {
        "finish": lambda: lifecycle.finish_task(task_id=tid, message="first"),
        "fail": lambda: lifecycle.fail_task(task_id=tid, message="first"),
        "cancel": lambda: lifecycle.cancel_task(task_id=tid, message="first"),
    }[first]()
    before = task_row(tid)
    assert not lifecycle.mark_task_running(task_id=tid)
    assert not lifecycle.fail_task(task_id=tid, message="late hook")
    assert not lifecycle.finish_task(task_id=tid, message="late hook")
    assert not lifecycle.cancel_task(task_id=tid, message="late hook")
    assert lifecycle.set_task_progress(task_id=tid, completed=100) == before.completed
    after = task_row(tid)
    assert (after.status, after.message, after.completed) == (
        before.status,
        "first",
        before.completed,
    )


def test_missing_task_changes_nothing() -> None:
    assert not lifecycle.mark_task_running(task_id="task_tld-city-bp1_nothere")
    assert lifecycle.set_task_progress(task_id="task_tld-city-bp1_nothere", completed=5) == -1


def test_server_id_saved_at_once_and_user_data_kept_until_active() -> None:
    made = make_provision_task()
    rid = made.resource_id
    assert (
        lifecycle.start_provisioning(resource_id=rid, task_id=made.task_id)
        == ResourceStatus.PROVISIONING
    )
    assert lifecycle.get_user_data(resource_id=rid) is not None
    assert lifecycle.record_server_id(resource_id=rid, server_id="srv-1")
    assert resource_row(rid).server_id == "srv-1"
    # kept while the build may have to start again on a new server
    assert user_data_row(rid) is not None
    assert lifecycle.mark_resource_active(resource_id=rid, private_ipv4="10.0.0.5")
    row = resource_row(rid)
    assert (row.status, row.private_ipv4) == (ResourceStatus.ACTIVE, "10.0.0.5")
    assert user_data_row(rid) is None


def test_delete_wins_over_a_running_provision() -> None:
    made = make_provision_task()
    rid = made.resource_id
    lifecycle.start_provisioning(resource_id=rid)
    view = lifecycle.mark_resource_deleting(resource_id=rid, task_id="task-del")
    assert view is not None
    assert view.status == ResourceStatus.DELETING
    assert user_data_row(rid) is None
    # the provision run saves its server but is told to stop (and remove it)
    assert not lifecycle.record_server_id(resource_id=rid, server_id="srv-late")
    assert resource_row(rid).server_id == "srv-late"
    assert not lifecycle.mark_resource_active(resource_id=rid, private_ipv4="10.0.0.9")
    assert not lifecycle.mark_resource_failed(resource_id=rid, reason="ServerError", message="x")
    assert lifecycle.start_provisioning(resource_id=rid) == ResourceStatus.DELETING
    assert lifecycle.mark_resource_deleted(resource_id=rid)
    assert resource_row(rid).status == ResourceStatus.DELETED
    # deleted is final
    assert not lifecycle.mark_resource_deleted(resource_id=rid)
    again = lifecycle.mark_resource_deleting(resource_id=rid)
    assert again is not None
    assert again.status == ResourceStatus.DELETED
    assert not lifecycle.record_server_id(resource_id=rid, server_id="srv-other")
    assert resource_row(rid).server_id == "srv-late"


def test_failed_resource_keeps_reason_and_loses_user_data() -> None:
    made = make_provision_task()
    rid = made.resource_id
    lifecycle.start_provisioning(resource_id=rid)
    assert lifecycle.mark_resource_failed(
        resource_id=rid, reason="QuotaExceeded", message="Quota exceeded for instances"
    )
    row = resource_row(rid)
    assert (row.status, row.status_reason, row.status_message) == (
        ResourceStatus.FAILED,
        "QuotaExceeded",
        "Quota exceeded for instances",
    )
    assert user_data_row(rid) is None
    # a second failure (late hook) does not overwrite the first reason
    assert not lifecycle.mark_resource_failed(
        resource_id=rid, reason="ProvisionCrashed", message="y"
    )
    assert resource_row(rid).status_reason == "QuotaExceeded"
