"""What an operator does about stuck work: `slices-bi status`, `retry` and `abandon`."""

from __future__ import annotations

from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.states import Crashed

from slices_bi.catalog.models import ResourceStatus, TaskStatus
from slices_bi.catalog.submission import submit_task
from slices_bi.cli import main
from slices_bi.deployments.launcher import PrefectLauncher
from slices_bi.deployments.serve import build_deployments
from tests.flows.helpers import make_provision_task, resource_row, task_row


def _stuck_task(settings) -> tuple[str, UUID]:
    build_deployments(settings)[0].apply()
    made = make_provision_task()
    run_id = submit_task(made.task_id, PrefectLauncher())
    assert run_id is not None
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(UUID(run_id), Crashed(message="machine lost"), force=True)
    return made.task_id, UUID(run_id)


def test_status_lists_unsettled_work_and_retry_resumes_it(
    capsys, db, prefect_api_url, settings, monkeypatch
):
    monkeypatch.setenv("SLICES_BI_PREFECT_API_URL", prefect_api_url)
    task_id, run_id = _stuck_task(settings)

    assert main(["status"]) == 0
    shown = capsys.readouterr().out
    assert task_id in shown
    assert "Crashed" in shown  # the run's state, from Prefect

    assert main(["retry", task_id]) == 0
    assert "scheduled again" in capsys.readouterr().out
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(run_id).state.name == "AwaitingRetry"
    assert task_row(task_id).message == "retried by an operator"


def test_abandon_fails_the_task_and_cancels_its_run(
    capsys, db, prefect_api_url, settings, monkeypatch
):
    monkeypatch.setenv("SLICES_BI_PREFECT_API_URL", prefect_api_url)
    task_id, run_id = _stuck_task(settings)
    with get_client(sync_client=True) as client:  # as if a worker were still on it
        client.set_flow_run_state(run_id, Crashed(), force=True)

    assert main(["abandon", task_id, "--reason", "cloud maintenance"]) == 0
    assert "abandoned" in capsys.readouterr().out
    task = task_row(task_id)
    assert task.status == TaskStatus.FAILED
    assert task.message == "abandoned by an operator: cloud maintenance"
    [resource_id] = task.resource_ids
    assert resource_row(resource_id).status == ResourceStatus.FAILED
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(run_id).state.name == "Crashed"  # final: left as it is

    assert main(["abandon", task_id]) == 1  # nothing left to abandon
    assert "already failed" in capsys.readouterr().err
    assert main(["status"]) == 0
    assert task_id not in capsys.readouterr().out
