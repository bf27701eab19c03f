"""A resource's life through the API and the flows: created, extended, warned, rebooted
and deleted, each step on its timeline in order; reboot answers and 404s."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from slices_bi.api.app import API_PREFIX
from slices_bi.flows.deprovision import delete_resource
from slices_bi.flows.expiry_warnings import send_warnings
from slices_bi.flows.provision import provision_resources
from slices_bi.flows.reboot import reboot_resource
from slices_bi.settings import get_settings
from tests.api.conftest import bearer, request_body

REBOOT_CALL = "POST /compute/v2.1/servers/{server_id}/action"


def _active(cloud: Any, client: TestClient, tokens: Any, offered: Any) -> tuple[str, dict]:
    task = client.post(
        "/resources", json=request_body(*offered, tokens), headers=bearer(tokens.experiment())
    ).json()
    assert provision_resources(task_id=task["id"], return_state=True).is_completed()
    return task["resource_ids"][0], task


def test_timeline_of_a_resource_created_extended_warned_rebooted_and_deleted(
    cloud: Any, client: TestClient, tokens: Any, offered: Any, webhook: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("SLICES_BI_EXPIRY_WEBHOOK_URL", webhook.url)
    get_settings.cache_clear()
    headers = bearer(tokens.experiment())
    rid, task = _active(cloud, client, tokens, offered)
    assert task["resource_events"] == [f"{API_PREFIX}/resources/{rid}/events"]

    later = datetime.now(UTC) + timedelta(days=3)
    extended = client.patch(
        f"/resources/{rid}", json={"expires_at": later.isoformat()}, headers=headers
    )
    assert extended.status_code == 200, extended.text
    assert extended.json()["extension"]["clamped"] is False

    assert send_warnings(get_settings(), now=later - timedelta(hours=20)).sent == 1
    assert [b["resource_id"] for b in webhook.take()] == [rid]

    cloud.set_config(reboot_delay=0.3)
    cloud.reset_counters()
    answer = client.post(f"/resources/{rid}/reboot", params={"type": "hard"}, headers=headers)
    assert answer.status_code == 200, answer.text
    reboot = answer.json()
    assert (reboot["kind"], reboot["status"], reboot["resource_ids"]) == (
        "reboot",
        "pending",
        [rid],
    )
    again = client.post(f"/resources/{rid}/reboot", headers=headers).json()
    assert again["id"] == reboot["id"]  # one open reboot at a time
    assert reboot_resource(task_id=reboot["id"], return_state=True).is_completed()
    assert cloud.counters().get(REBOOT_CALL) == 1
    done = client.get(f"/tasks/{reboot['id']}", headers=headers).json()
    assert (done["status"], done["completed"]) == ("finished", 100)

    deletion = client.delete(f"/resources/{rid}", headers=headers).json()
    assert delete_resource(task_id=deletion["id"], return_state=True).is_completed()

    events = client.get(f"/resources/{rid}/events", headers=headers)
    assert events.status_code == 200
    body = events.json()
    assert [e["kind"] for e in body["data"]] == [
        "requested",
        "building",
        "active",
        "extended",
        "expiry_warning",
        "reboot_requested",
        "rebooted",
        "deletion_requested",
        "deleted",
    ]
    assert body["count"] == 9
    times = [datetime.fromisoformat(e["at"]) for e in body["data"]]
    assert times == sorted(times)
    by_kind = {e["kind"]: e for e in body["data"]}
    assert by_kind["requested"]["task_id"] == task["id"]
    assert (
        by_kind["extended"]["data"]["to"]
        == datetime.fromisoformat(extended.json()["expires_at"]).isoformat()
    )
    assert by_kind["reboot_requested"]["data"]["type"] == "hard"
    assert by_kind["rebooted"]["task_id"] == reboot["id"]
    assert by_kind["deletion_requested"]["task_id"] == deletion["id"]
    # A user token of the owner reads it too.
    assert client.get(f"/resources/{rid}/events", headers=bearer(tokens.user())).json() == body

    unknown = f"res_{get_settings().site_id}_01jd0000000000000000000000"
    gone = client.post(f"/resources/{rid}/reboot", headers=headers)
    never = client.post(f"/resources/{unknown}/reboot", headers=headers)
    assert gone.status_code == never.status_code == 404
    assert gone.json()["error"] == never.json()["error"] == "resource_not_found"
    assert gone.json()["detail"].replace(rid, "ID") == never.json()["detail"].replace(unknown, "ID")
    get_settings.cache_clear()


def test_reboot_of_another_experiments_or_an_unready_resource(
    cloud: Any, client: TestClient, tokens: Any, offered: Any
) -> None:
    task = client.post(
        "/resources", json=request_body(*offered, tokens), headers=bearer(tokens.experiment())
    ).json()
    rid = task["resource_ids"][0]
    pending = client.post(f"/resources/{rid}/reboot", headers=bearer(tokens.experiment()))
    assert (pending.status_code, pending.json()["error"]) == (409, "resource_not_active")
    other = bearer(tokens.experiment(experiment_id="exp_test_other", user_id="user_test_other"))
    theirs = client.post(f"/resources/{rid}/reboot", headers=other)
    assert (theirs.status_code, theirs.json()["error"]) == (404, "resource_not_found")
    assert client.get(f"/resources/{rid}/events", headers=other).status_code == 404
    bad = client.post(
        f"/resources/{rid}/reboot", params={"type": "warm"}, headers=bearer(tokens.experiment())
    )
    assert bad.status_code == 422
    kinds = [
        e["kind"]
        for e in client.get(f"/resources/{rid}/events", headers=bearer(tokens.experiment())).json()[
            "data"
        ]
    ]
    assert kinds == ["requested"]


def test_an_extension_past_the_experiment_is_granted_up_to_it(
    db: str, client: TestClient, tokens: Any, offered: Any
) -> None:
    headers = bearer(tokens.experiment(days=10))
    task = client.post("/resources", json=request_body(*offered, tokens), headers=headers).json()
    rid = task["resource_ids"][0]
    asked = datetime.now(UTC) + timedelta(days=40)
    answer = client.patch(
        f"/resources/{rid}", json={"expires_at": asked.isoformat()}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    extension = answer.json()["extension"]
    assert extension["clamped"] is True
    assert extension["limited_by"] == "experiment_expiry"
    assert "the experiment expires at" in extension["reason"]
    granted = datetime.fromisoformat(extension["granted"])
    assert granted < asked
    assert datetime.fromisoformat(answer.json()["expires_at"]) == granted
    [event] = [
        e
        for e in client.get(f"/resources/{rid}/events", headers=headers).json()["data"]
        if e["kind"] == "extended"
    ]
    assert event["data"]["limited_by"] == "experiment_expiry"
    assert "clamped" in event["message"]
    # Nothing more to grant: refused, and said why.
    again = client.patch(
        f"/resources/{rid}",
        json={"expires_at": (asked + timedelta(days=1)).isoformat()},
        headers=headers,
    )
    assert (again.status_code, again.json()["error"]) == (422, "invalid_expires_at")
    assert "the experiment expires at" in again.json()["detail"]
