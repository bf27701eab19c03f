"""The README walk-through, end to end: tokens -> API -> Prefect worker -> server on devcloud."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from prefect.client.orchestration import get_client

from slices_bi.api.app import API_PREFIX, create_app
from slices_bi.auth import get_token_verifier, mint_experiment_token, mint_user_token
from slices_bi.deployments.launcher import PrefectLauncher
from slices_bi.flows.catalog_sync import run_catalog_sync
from slices_bi.openstack.network_index import NetworkIndex

pytestmark = pytest.mark.slow
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGVkAXHpOZ0j3kTnbsSZ5dswJj3lYJ2rkfWSYlN7nnSv e2e"


def _follow(
    client: TestClient, task_id: str, headers: dict[str, str], timeout: float = 90
) -> list[dict]:
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = client.get(f"/tasks/{task_id}", headers=headers).json()
        if not seen or (task["status"], task["completed"]) != (
            seen[-1]["status"],
            seen[-1]["completed"],
        ):
            seen.append(task)
        if task["status"] in ("finished", "failed", "cancelled"):
            return seen
        time.sleep(0.2)
    pytest.fail(f"task {task_id} did not finish: {seen[-1] if seen else None}")


def test_request_follow_and_delete_a_vm(worker, db, devcloud, settings):
    get_token_verifier.cache_clear()
    run_catalog_sync(settings)
    experiment = f"exp_e2e_{uuid.uuid4().hex[:12]}"
    user = f"user_e2e_{uuid.uuid4().hex[:12]}"
    exp_headers = {
        "Authorization": "Bearer "
        + mint_experiment_token(
            settings,
            experiment_id=experiment,
            experiment_expires_at=datetime.now(UTC) + timedelta(days=7),
            user_id=user,
        )
    }
    user_token = mint_user_token(settings, user_id=user)
    app = create_app(launcher=PrefectLauncher(), networks=NetworkIndex(settings))
    with TestClient(app, base_url=f"http://127.0.0.1{API_PREFIX}") as client:
        images = client.get(
            "/disk-images", headers={"Authorization": f"Bearer {user_token}"}
        ).json()["data"]
        flavors = client.get("/flavors", headers=exp_headers).json()["data"]
        assert images
        assert flavors
        body = {
            "request_id": str(uuid.uuid4()),
            "expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
            "resources": [
                {
                    "friendly_name": "vm1",
                    "disk_image_id": images[0]["id"],
                    "flavor_id": flavors[0]["id"],
                    "userdata": "#cloud-config\npackages: [htop]\n",
                }
            ],
            "ssh_authorized_keys": [SSH_KEY],
            "tokens": [{"jwt": user_token}],
        }
        started = time.monotonic()
        task = client.post("/resources", json=body, headers=exp_headers).json()
        history = _follow(client, task["id"], exp_headers)
        provision_seconds = time.monotonic() - started
        assert history[-1]["status"] == "finished", history[-1]
        assert history[-1]["completed"] == 100
        assert history[0]["status"] == "pending"
        assert any(h["status"] == "running" for h in history)
        completed = [h["completed"] for h in history]
        assert completed == sorted(completed)

        resource = client.get(f"/resources/{task['resource_ids'][0]}", headers=exp_headers).json()
        assert resource["status"] == "active"
        assert resource["private_ipv4"]
        conn = devcloud.connect()
        server = conn.compute.get_server(resource["server_id"])
        assert server.status == "ACTIVE"
        assert server.metadata["slices_bi_resource"] == resource["id"]

        with get_client(sync_client=True) as prefect:
            run = prefect.read_flow_run(task_id_run := _flow_run_id(task["id"]))
            assert run.state is not None
            assert run.state.is_completed()
            assert run.parameters == {"task_id": task["id"]}
            task_runs = prefect.read_task_runs(flow_run_filter=_by_flow_run(task_id_run))
            assert len(task_runs) >= 4

        started = time.monotonic()
        deletion = client.delete(f"/resources/{resource['id']}", headers=exp_headers).json()
        history = _follow(client, deletion["id"], exp_headers)
        delete_seconds = time.monotonic() - started
        assert history[-1]["status"] == "finished", history[-1]
        assert (
            client.get(f"/resources/{resource['id']}", headers=exp_headers).json()["status"]
            == "deleted"
        )
        gone = conn.compute.find_server(resource["server_id"])
        assert gone is None or gone.status == "DELETED"  # Nova shows DELETED for a moment
        print(f"\nPOST -> finished {provision_seconds:.1f} s")
        print(f"DELETE -> finished {delete_seconds:.1f} s")


def _flow_run_id(task_id: str) -> str:
    from slices_bi.catalog.db import session_scope
    from slices_bi.catalog.repository import get_task

    with session_scope() as session:
        task = get_task(session, task_id)
        assert task is not None
        assert task.flow_run_id
        return task.flow_run_id


def _by_flow_run(flow_run_id: str):  # type: ignore[no-untyped-def]
    from prefect.client.schemas.filters import FlowRunFilter

    return FlowRunFilter(id={"any_": [flow_run_id]})
