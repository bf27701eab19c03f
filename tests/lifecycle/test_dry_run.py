"""POST /resources?dry_run=true: every check, the cloud pre-flight included; nothing is
written (no task, no resource, no event), started or asked of the cloud but reads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from slices_bi.api.app import API_PREFIX, create_app
from slices_bi.catalog.event_models import ResourceEvent
from slices_bi.catalog.models import Resource, Task
from slices_bi.openstack.preflight import CloudPreflight
from tests.api.conftest import bearer, request_body


@pytest.fixture
def dry_client(cloud: Any, launcher: Any) -> Iterator[TestClient]:
    """The API with the cloud pre-flight of `slices-bi api`."""
    app = create_app(launcher=launcher, preflight=CloudPreflight())
    with TestClient(app, base_url=f"http://127.0.0.1{API_PREFIX}") as client:
        yield client


def _nothing_written(session: Session) -> None:
    session.expire_all()
    for table in (Task, Resource, ResourceEvent):
        assert session.exec(select(table)).all() == []


def _writes(counters: dict[str, int]) -> dict[str, int]:
    """Cloud calls other than reads (Keystone's token issue is how any client reads)."""
    return {
        call: n
        for call, n in counters.items()
        if not call.startswith("GET ") and call != "POST /identity/v3/auth/tokens"
    }


def test_dry_run_of_a_fitting_request(
    cloud: Any, dry_client: TestClient, tokens: Any, offered: Any, launcher: Any, session: Session
) -> None:
    image, flavor = offered
    body = request_body(image, flavor, tokens)
    body["resources"].append(
        {
            "friendly_name": "vm2",
            "disk_image_id": image.id,
            "flavor_id": flavor.id,
            "public_ipv4": True,
        }
    )
    cloud.set_faults(quota={"instances": 5, "floating_ips": 3})
    cloud.reset_counters()
    answer = dry_client.post(
        "/resources", params={"dry_run": "true"}, json=body, headers=bearer(tokens.experiment())
    )
    assert answer.status_code == 200, answer.text
    plan = answer.json()
    assert plan["dry_run"] is True
    assert plan["would_succeed"] is True, plan
    assert plan["kind"] == "provision"
    assert plan["resource_ids"] == []
    assert all(c["ok"] for c in plan["checks"])
    asked = datetime.fromisoformat(body["expires_at"])
    assert datetime.fromisoformat(plan["expires_at"]["granted"]) == asked
    assert plan["expires_at"]["clamped"] is False
    first, second = plan["resources"]
    assert (first["friendly_name"], first["disk_image_name"], first["flavor_name"]) == (
        "vm1",
        "Ubuntu 22.04",
        "small",
    )
    assert first["network_name"] == "private"
    assert second["public_ipv4"] is True
    conn = cloud.connect()
    assert first["cloud"]["image_id"] == conn.image.find_image("Ubuntu 22.04.5").id
    assert first["cloud"]["flavor_name"] == "m1.small"
    assert (first["cloud"]["vcpus"], first["cloud"]["ram_mib"]) == (1, 2048)
    assert first["cloud"]["network_id"] == conn.network.find_network("private").id
    quota = {q["kind"]: q for q in plan["quota"]}
    assert quota["instances"] == {
        "kind": "instances",
        "requested": 2,
        "available": 5,
        "limit": 5,
        "used": 0,
    }
    assert (quota["floating_ips"]["requested"], quota["floating_ips"]["available"]) == (1, 3)
    assert quota["cores"]["available"] is None  # unlimited
    assert _writes(cloud.counters()) == {}
    assert launcher.submitted == []
    _nothing_written(session)
    # The real request afterwards is untouched by the dry run (same request_id accepted).
    real = dry_client.post("/resources", json=body, headers=bearer(tokens.experiment()))
    assert real.status_code == 200
    assert real.json()["kind"] == "provision"


def test_dry_run_past_the_experiments_expiry_says_refused_and_why(
    cloud: Any, dry_client: TestClient, tokens: Any, offered: Any, session: Session
) -> None:
    headers = bearer(tokens.experiment(days=2))
    body = request_body(
        *offered, tokens, expires_at=(datetime.now(UTC) + timedelta(days=5)).isoformat()
    )
    plan = dry_client.post("/resources?dry_run=true", json=body, headers=headers).json()
    assert plan["would_succeed"] is False
    expiry = plan["expires_at"]
    assert (expiry["clamped"], expiry["granted"], expiry["limited_by"]) == (
        True,
        None,
        "experiment_expiry",
    )
    latest = datetime.fromisoformat(expiry["latest_allowed"])
    assert timedelta(days=1) < latest - datetime.now(UTC) <= timedelta(days=2)
    [failed] = [c for c in plan["checks"] if not c["ok"]]
    assert (failed["check"], failed["error"]) == ("expires_at", "invalid_expires_at")
    assert "the experiment expires at" in failed["detail"]
    assert "a real request is refused" in failed["detail"]
    assert failed["detail"] in plan["message"]
    # The real request is indeed refused, for the same reason.
    real = dry_client.post("/resources", json=body, headers=headers)
    assert (real.status_code, real.json()["error"]) == (422, "invalid_expires_at")
    _nothing_written(session)


def test_dry_run_reports_every_failed_check_with_its_reason(
    cloud: Any, dry_client: TestClient, tokens: Any, offered: Any, session: Session
) -> None:
    image, flavor = offered
    cloud.set_faults(quota={"instances": 1})
    body = request_body(image, flavor, tokens)
    body["resources"].append(dict(body["resources"][0], friendly_name="vm2"))
    plan = dry_client.post(
        "/resources?dry_run=true", json=body, headers=bearer(tokens.experiment())
    ).json()
    [short] = [c for c in plan["checks"] if not c["ok"]]
    assert (short["check"], short["error"]) == ("quota", "QuotaExceeded")
    assert short["detail"] == "instances: requested 2, available 1 (0 of 1 used)"

    body["resources"].append(
        {
            "friendly_name": "vm1",
            "disk_image_id": "image_x",
            "flavor_id": flavor.id,
            "network_name": "nope",
        }
    )
    plan = dry_client.post(
        "/resources?dry_run=true", json=body, headers=bearer(tokens.experiment())
    ).json()
    failed = {(c["check"], c["resource"]): c["error"] for c in plan["checks"] if not c["ok"]}
    assert failed == {
        ("disk_image_id", 2): "unknown_disk_image",
        ("friendly_name", 2): "duplicate_friendly_name",
        ("preflight", None): "not_checked",
    }
    _nothing_written(session)


def test_dry_run_says_when_the_cloud_cannot_be_asked(
    cloud: Any, dry_client: TestClient, tokens: Any, offered: Any
) -> None:
    cloud.set_faults(error_count={"compute": 50}, error_status=500)
    plan = dry_client.post(
        "/resources?dry_run=true",
        json=request_body(*offered, tokens),
        headers=bearer(tokens.experiment()),
    ).json()
    [failed] = [c for c in plan["checks"] if not c["ok"]]
    assert (failed["check"], failed["error"]) == ("preflight", "CloudUnavailable")
