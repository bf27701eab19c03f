"""GET /metrics: Prometheus text that prometheus_client parses, whose values move as
requests, tasks, failures and cloud errors happen; who may read it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from slices_bi.api.app import API_PREFIX, create_app
from slices_bi.auth import get_token_verifier
from slices_bi.catalog import lifecycle, metric_store
from slices_bi.flows.catalog_sync import run_catalog_sync
from slices_bi.flows.expiry_cleanup import run_expiry_cleanup
from slices_bi.openstack import compute, errors
from slices_bi.openstack.connection import close_connections, connect
from slices_bi.settings import get_settings
from tests.api.conftest import OfflineLauncher, bearer, request_body

METRICS = "http://127.0.0.1/metrics"
RESOURCES = f"{API_PREFIX}/resources"


def scrape(client: TestClient, **headers: str) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics: {(name, sorted labels): value}."""
    answer = client.get(METRICS, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_http_requests_are_counted_by_route_method_and_status(client, tokens):
    before = scrape(client)
    for _ in range(3):
        assert client.get("/resources", headers=bearer(tokens.user())).status_code == 200
    assert client.get("/resources").status_code == 401
    after = scrape(client)
    labels = {"handler": RESOURCES, "method": "GET"}
    total = "slices_bi_http_requests_total"
    assert (
        value(after, total, **labels, status="200") - value(before, total, **labels, status="200")
        == 3
    )
    assert (
        value(after, total, **labels, status="401") - value(before, total, **labels, status="401")
        == 1
    )
    count = "slices_bi_http_request_duration_seconds_count"
    assert value(after, count, **labels) - value(before, count, **labels) == 4
    bucket = "slices_bi_http_request_duration_seconds_bucket"
    assert value(after, bucket, **labels, le="+Inf") == value(after, count, **labels)


def test_tasks_unsettled_and_failed_ones_are_counted(client, tokens, image, flavor):
    before = scrape(client)
    assert value(before, "slices_bi_tasks", kind="provision", status="pending") == 0
    task = client.post(
        "/resources", json=request_body(image, flavor, tokens), headers=bearer(tokens.experiment())
    ).json()
    middle = scrape(client)
    assert value(middle, "slices_bi_tasks", kind="provision", status="pending") == 1
    assert value(middle, "slices_bi_resources", status="pending") == 1
    assert value(middle, "slices_bi_unsettled_tasks", older_than_seconds="0") == 1
    assert value(middle, "slices_bi_unsettled_tasks", older_than_seconds="3600") == 0
    assert middle[("slices_bi_unsettled_task_oldest_age_seconds", ())] >= 0

    assert lifecycle.fail_task(task_id=task["id"], message="the cloud said no")
    after = scrape(client)
    assert value(after, "slices_bi_tasks", kind="provision", status="pending") == 0
    assert value(after, "slices_bi_tasks", kind="provision", status="failed") == 1
    assert value(after, "slices_bi_unsettled_tasks", older_than_seconds="0") == 0
    failed = {"kind": "provision", "status": "failed"}
    name = "slices_bi_task_duration_seconds"
    assert value(after, f"{name}_count", **failed) - value(before, f"{name}_count", **failed) == 1
    assert value(after, f"{name}_bucket", **failed, le="+Inf") == value(
        after, f"{name}_count", **failed
    )
    assert value(after, "slices_bi_catalog_up") == 1


def test_cloud_calls_and_cloud_errors_are_counted_from_another_process(client, devcloud):
    """What the flows count reaches /metrics through the catalog (they run in the worker)."""
    close_connections()
    conn = connect()
    before = scrape(client)
    assert compute.find_server(conn, "no-such-server") is None  # a 404: a client error
    devcloud.set_faults(error_count={"compute": 1})
    with pytest.raises(errors.TransientCloudError):
        compute.get_server(conn, "no-such-server")
    metric_store.flush()
    after = scrape(client)
    calls = "slices_bi_cloud_calls_total"
    for outcome in ("client_error", "server_error"):
        moved = value(after, calls, service="compute", outcome=outcome) - value(
            before, calls, service="compute", outcome=outcome
        )
        assert moved >= 1, outcome
    cloud_errors = "slices_bi_cloud_errors_total"
    for reason in ("CloudUnavailable", "NotFound"):
        assert (
            value(after, cloud_errors, reason=reason) - value(before, cloud_errors, reason=reason)
            >= 1
        ), reason
    close_connections()


def test_catalog_sync_and_expiry_cleanup_are_counted(client, devcloud):
    close_connections()
    before = scrape(client)
    run_catalog_sync(get_settings())
    run_expiry_cleanup(get_settings(), OfflineLauncher())
    metric_store.flush()  # catalog-sync counts outside its transaction
    after = scrape(client)
    changes = "slices_bi_catalog_sync_changes_total"
    assert value(after, changes, table="images", change="added") > value(
        before, changes, table="images", change="added"
    )
    runs = "slices_bi_expiry_cleanup_runs_total"
    assert value(after, runs, outcome="done") - value(before, runs, outcome="done") == 1
    assert value(after, "slices_bi_expiry_cleanup_last_success_timestamp_seconds") > 0
    assert ("slices_bi_expiry_cleanup_leaks_reaped_total", ()) in after
    assert value(after, "slices_bi_catalog_sync_last_success_timestamp_seconds") > 0
    close_connections()


def test_prefect_and_the_data_directory_are_watched(client):
    samples = scrape(client)
    assert value(samples, "slices_bi_prefect_up") in (0, 1)
    assert (
        0
        < value(samples, "slices_bi_data_dir_free_bytes")
        <= value(samples, "slices_bi_data_dir_size_bytes")
    )


def test_metrics_need_a_token_off_loopback(db, tokens, monkeypatch):
    with TestClient(create_app(launcher=OfflineLauncher(), bind_host="0.0.0.0")) as client:
        anonymous = client.get(METRICS)
        assert anonymous.status_code == 401
        assert anonymous.json()["error"] == "token_missing"
        assert client.get(METRICS, headers=bearer(tokens.user())).status_code == 403
        assert client.get(METRICS, headers=bearer("not-a-token")).status_code == 401
        assert client.get(METRICS, headers=bearer(tokens.admin())).status_code == 200

    static = "prometheus-scrape-secret-0123456789"
    monkeypatch.setenv("SLICES_BI_METRICS_TOKEN", static)
    get_settings.cache_clear()
    get_token_verifier.cache_clear()
    try:
        with TestClient(create_app(launcher=OfflineLauncher(), bind_host="0.0.0.0")) as client:
            assert client.get(METRICS, headers=bearer(static)).status_code == 200
            assert client.get(METRICS, headers=bearer(static + "x")).status_code == 401
    finally:
        monkeypatch.delenv("SLICES_BI_METRICS_TOKEN")
        get_settings.cache_clear()


def test_on_loopback_a_proxied_request_needs_a_token(client, tokens):
    assert client.get(METRICS).status_code == 200
    proxied = {"X-Forwarded-For": "203.0.113.9"}
    assert client.get(METRICS, headers=proxied).status_code == 401
    assert client.get(METRICS, headers={**proxied, **bearer(tokens.admin())}).status_code == 200
