"""X-Request-ID: on every answer, on every log line of the request, on the task (and in
GET /tasks/{id}), and as a tag of the flow run the task starts."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prefect.client.orchestration import get_client

from slices_bi.api.app import API_PREFIX, create_app
from slices_bi.deployments.launcher import PrefectLauncher
from slices_bi.deployments.serve import build_deployments
from slices_bi.logs import configure
from slices_bi.settings import Settings
from tests.api.conftest import bearer, request_body

CLIENT_ID = "trace-4f1c2a.client:7"
HEALTHZ = "http://127.0.0.1/healthz"


@pytest.fixture
def log_lines(settings: Settings) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = configure(settings, stream)
    yield stream
    logging.getLogger().removeHandler(handler)


def test_a_client_request_id_is_answered_logged_and_stored_on_the_task(
    client, tokens, image, flavor, log_lines
):
    answer = client.post(
        "/resources",
        json=request_body(image, flavor, tokens),
        headers={**bearer(tokens.experiment()), "X-Request-ID": CLIENT_ID},
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-request-id"] == CLIENT_ID
    task = answer.json()
    assert task["correlation_id"] == CLIENT_ID
    shown = client.get(f"/tasks/{task['id']}", headers=bearer(tokens.experiment())).json()
    assert shown["correlation_id"] == CLIENT_ID
    assert shown["flow_run_id"] is None
    assert shown["flow_run_url"] is None

    lines = [line for line in log_lines.getvalue().splitlines() if CLIENT_ID in line]
    assert any("POST /apis/bi.slices.eu/v1alpha2/resources -> 200" in line for line in lines)
    # The submission attempt after the answer is a line of the same request.
    assert all(f"[{CLIENT_ID}]" in line for line in lines)


@pytest.mark.parametrize(
    "sent", ["", "x" * 129, "bad id with spaces", "semi;colon", "new\\nline", "-leading-dash"]
)
def test_an_unusable_request_id_is_replaced(client, sent):
    answer = client.get(HEALTHZ, headers={"X-Request-ID": sent})
    assert answer.headers["x-request-id"] != sent
    uuid.UUID(answer.headers["x-request-id"])


def test_every_answer_has_a_request_id_refusals_included(client):
    for answer in (
        client.get(HEALTHZ),
        client.get("/resources"),  # 401
        client.post("/resources", content=b"x" * (3 * 1024 * 1024)),  # 413 from the limits
    ):
        uuid.UUID(answer.headers["x-request-id"])
    ids = {client.get(HEALTHZ).headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3


def test_json_log_lines_carry_the_same_fields(client, monkeypatch, settings):
    stream = io.StringIO()
    handler = configure(settings.model_copy(update={"log_format": "json"}), stream)
    try:
        client.get(HEALTHZ, headers={"X-Request-ID": CLIENT_ID})
    finally:
        logging.getLogger().removeHandler(handler)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    mine = [r for r in records if r.get("request_id") == CLIENT_ID]
    assert mine, records
    assert {"time", "level", "logger", "message", "request_id"} <= set(mine[0])
    assert "GET /healthz -> 200" in mine[0]["message"]


def test_the_flow_run_is_tagged_with_the_request_id_and_linked_from_the_task(
    db, tokens, image, flavor, prefect_api_url, settings
):
    build_deployments(settings)[0].apply()  # the provision deployment exists, nobody runs it
    app = create_app(launcher=PrefectLauncher())
    with TestClient(app, base_url=f"http://127.0.0.1{API_PREFIX}") as client:
        task = client.post(
            "/resources",
            json=request_body(image, flavor, tokens),
            headers={**bearer(tokens.experiment()), "X-Request-ID": CLIENT_ID},
        ).json()
        # TestClient runs the background submission before it returns the answer.
        shown = client.get(f"/tasks/{task['id']}", headers=bearer(tokens.experiment())).json()
    assert shown["flow_run_id"]
    assert shown["flow_run_url"] == (
        f"{settings.effective_prefect_ui_url}/runs/flow-run/{shown['flow_run_id']}"
    )
    with get_client(sync_client=True) as prefect:
        run = prefect.read_flow_run(uuid.UUID(shown["flow_run_id"]))
    assert f"request-id:{CLIENT_ID}" in run.tags
    assert run.parameters == {"task_id": task["id"]}
