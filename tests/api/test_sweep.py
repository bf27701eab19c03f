"""An accepted request is never lost: Prefect down at request time, or a run that died silently."""

from __future__ import annotations

from datetime import timedelta

from prefect.client.orchestration import get_client
from prefect.states import Crashed

from slices_bi.catalog.models import Resource, ResourceStatus, ResourceUserData, Task, TaskStatus
from slices_bi.catalog.types import utcnow
from slices_bi.deployments.launcher import PrefectLauncher
from slices_bi.deployments.serve import build_deployments
from slices_bi.deployments.sweep import settle_stale_tasks, submit_unsubmitted
from tests.api.conftest import bearer, request_body


def test_task_accepted_while_prefect_is_down_is_submitted_once_it_is_back(
    client, tokens, image, flavor, session, launcher, prefect_api_url, settings
):
    task_id = client.post(
        "/resources", json=request_body(image, flavor, tokens), headers=bearer(tokens.experiment())
    ).json()["id"]
    assert launcher.submitted == [task_id]  # tried, and Prefect was away
    assert session.get(Task, task_id).flow_run_id is None

    build_deployments(settings)[0].apply()  # the provision deployment exists, nobody runs it
    prefect_launcher = PrefectLauncher()
    assert submit_unsubmitted(prefect_launcher, grace=timedelta(0)) == 1
    session.expire_all()
    flow_run_id = session.get(Task, task_id).flow_run_id
    assert flow_run_id is not None
    assert submit_unsubmitted(prefect_launcher, grace=timedelta(0)) == 0
    # The task id is the idempotency key: a second submission is the same run.
    assert prefect_launcher.submit(session.get(Task, task_id)) == flow_run_id
    with get_client(sync_client=True) as prefect:
        run = prefect.read_flow_run(flow_run_id)
    assert run.parameters == {"task_id": task_id}

    # The run dies without a hook (SIGKILL): the sweep settles the task from Prefect's state.
    with get_client(sync_client=True) as prefect:
        prefect.set_flow_run_state(flow_run_id, Crashed(message="worker killed"), force=True)
    assert settle_stale_tasks(stale_after=timedelta(0)) == 1
    session.expire_all()
    task = session.get(Task, task_id)
    assert task.status == TaskStatus.FAILED
    assert "worker killed" in task.message
    resource = session.get(Resource, task.resource_ids[0])
    assert resource.status == ResourceStatus.FAILED
    assert resource.status_reason == "ProvisioningInterrupted"
    assert session.get(ResourceUserData, resource.id) is None  # the payload went with it
    assert settle_stale_tasks(stale_after=timedelta(0)) == 0


def test_a_run_gone_from_prefect_fails_its_task_and_blocks_nothing(
    client, tokens, image, flavor, session, prefect_api_url, settings
):
    build_deployments(settings)[0].apply()
    headers = bearer(tokens.experiment())
    gone, other = (
        client.post(
            "/resources",
            json=request_body(
                image,
                flavor,
                tokens,
                resources=[
                    {"friendly_name": name, "disk_image_id": image.id, "flavor_id": flavor.id}
                ],
            ),
            headers=headers,
        ).json()["id"]
        for name in ("vm-gone", "vm-other")
    )
    with get_client(sync_client=True) as prefect:
        deployment = prefect.read_deployment_by_name("provision-resources/provision-resources")
        run = prefect.create_flow_run_from_deployment(deployment.id, parameters={"task_id": other})
        prefect.set_flow_run_state(run.id, Crashed(message="killed"), force=True)
    for task_id, run_id in ((gone, "5b0f8a0e-6f2c-4a39-9a53-3f8e3d0c9b21"), (other, str(run.id))):
        task = session.get(Task, task_id)
        task.flow_run_id = run_id
        task.updated_at = utcnow() - timedelta(minutes=5)
        session.add(task)
    session.commit()
    assert settle_stale_tasks(stale_after=timedelta(minutes=1)) == 2
    session.expire_all()
    assert session.get(Task, gone).status == TaskStatus.FAILED
    assert "no longer exists" in session.get(Task, gone).message
    assert session.get(Task, other).status == TaskStatus.FAILED


def test_recent_unfinished_tasks_are_left_alone(
    client, tokens, image, flavor, session, prefect_api_url
):
    task_id = client.post(
        "/resources", json=request_body(image, flavor, tokens), headers=bearer(tokens.experiment())
    ).json()["id"]
    assert submit_unsubmitted(PrefectLauncher(), grace=timedelta(minutes=5)) == 0
    task = session.get(Task, task_id)
    task.flow_run_id = "00000000-0000-0000-0000-000000000000"
    task.updated_at = utcnow()
    session.add(task)
    session.commit()
    assert settle_stale_tasks(stale_after=timedelta(minutes=5)) == 0
