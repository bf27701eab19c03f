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

    # The run dies without a hook (SIGKILL; the zombie automation marks it Crashed): the
    # sweep schedules the same run again, up to run_max_attempts crashes.
    for attempt in range(2, settings.run_max_attempts + 1):
        with get_client(sync_client=True) as prefect:
            prefect.set_flow_run_state(flow_run_id, Crashed(message="worker killed"), force=True)
        assert settle_stale_tasks(stale_after=timedelta(0)) == 1
        with get_client(sync_client=True) as prefect:
            state = prefect.read_flow_run(flow_run_id).state
        assert state.name == "AwaitingRetry"
        session.expire_all()
        task = session.get(Task, task_id)
        assert task.status == TaskStatus.PENDING
        assert f"attempt {attempt} of {settings.run_max_attempts}" in task.message
        assert task.flow_run_id == flow_run_id  # the same run resumes the work

    # One crash too many: the task fails, and so do its resources.
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


def test_a_run_gone_from_prefect_is_submitted_again_and_blocks_nothing(
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
    lost = session.get(Task, gone)
    assert (lost.status, lost.flow_run_id) == (TaskStatus.PENDING, None)
    assert "no longer exists" in lost.message
    assert submit_unsubmitted(PrefectLauncher(), grace=timedelta(0)) == 1  # a new run
    session.expire_all()
    assert session.get(Task, gone).flow_run_id not in (None, "5b0f8a0e-6f2c-4a39-9a53-3f8e3d0c9b21")
    with get_client(sync_client=True) as prefect:
        assert prefect.read_flow_run(run.id).state.name == "AwaitingRetry"  # resumed


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


def test_a_run_claimed_but_never_started_is_handed_back(
    client, tokens, image, flavor, session, prefect_api_url, settings
):
    from prefect.states import Pending

    build_deployments(settings)[0].apply()
    task_id = client.post(
        "/resources", json=request_body(image, flavor, tokens), headers=bearer(tokens.experiment())
    ).json()["id"]
    flow_run_id = PrefectLauncher().submit(session.get(Task, task_id))
    with get_client(sync_client=True) as prefect:
        prefect.set_flow_run_state(flow_run_id, Pending(), force=True)
    task = session.get(Task, task_id)
    task.flow_run_id, task.updated_at = flow_run_id, utcnow() - timedelta(minutes=5)
    session.add(task)
    session.commit()
    # Claimed moments ago: the worker may be starting it.
    assert settle_stale_tasks(stale_after=timedelta(minutes=1)) == 0
    # Claimed longer ago than a run may stay silent: handed back.
    assert settle_stale_tasks(stale_after=timedelta(minutes=1), dead_after=timedelta(0)) == 1
    with get_client(sync_client=True) as prefect:
        state = prefect.read_flow_run(flow_run_id).state
    assert state.name == "AwaitingRetry"
    assert "never started" in state.message
