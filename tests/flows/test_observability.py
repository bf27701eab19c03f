"""A provision run logs the request id of every cloud call (each Nova create as devcloud
returned it), and writes a receipt: the image as Glance reports it, the flavor, the
network, the hash of the payload sent, the steps with their request ids; never a secret."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from openstack.connection import Connection
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.logging.handlers import APILogHandler

from slices_bi.catalog import metric_store, receipts
from slices_bi.catalog.db import session_scope
from slices_bi.catalog.errors import NotFound
from slices_bi.flows.provision import provision_resources
from slices_bi.openstack import facts
from tests.flows.helpers import SECRET, USER_DATA, make_provision_task, resource_row

NOVA_CREATE = "POST /compute/v2.1/servers"


def _run_logs_and_artifacts(flow_run_id: Any) -> tuple[list[str], list[Any]]:
    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return [log.message for log in logs], artifacts


def test_provision_logs_request_ids_and_records_a_receipt(cloud: Any, conn: Connection) -> None:
    facts.forget()
    made = make_provision_task(count=2)
    cloud.reset_counters()  # and the request ids devcloud remembers
    state = provision_resources(task_id=made.task_id, return_state=True)
    assert state.is_completed(), state.message

    creates = [e["request_id"] for e in cloud.request_ids() if e["call"] == NOVA_CREATE]
    assert len(creates) == 2  # one Nova create per resource
    texts, artifacts = _run_logs_and_artifacts(state.state_details.flow_run_id)
    for request_id in creates:
        assert any(
            "POST compute /compute/v2.1/servers -> 202" in t and request_id in t for t in texts
        ), request_id

    for rid in made.resource_ids:
        with session_scope() as session:
            receipt = receipts.receipt_for(
                session, resource_id=rid, experiment_id=made.experiment_id, user_id=None
            )
        row = resource_row(rid)
        assert receipt.server_id == row.server_id
        image = conn.image.get_image(receipt.image.openstack_id)
        assert (receipt.image.name, receipt.image.checksum, receipt.image.size) == (
            image.name,
            image.checksum,
            image.size,
        )
        assert receipt.image.catalog_id == row.disk_image_id
        flavor = conn.compute.get_flavor(receipt.flavor.openstack_id)
        assert (receipt.flavor.vcpus, receipt.flavor.ram_mib, receipt.flavor.disk_gb) == (
            flavor.vcpus,
            flavor.ram,
            flavor.disk,
        )
        assert receipt.network.name == "private"
        sent = base64.b64decode(conn.compute.get_server(row.server_id).user_data)
        assert sent.decode() == USER_DATA
        assert receipt.user_data_sha256 == hashlib.sha256(sent).hexdigest()
        steps = {s.step: s for s in receipt.steps}
        assert {"lookup-catalog", "create-servers", "wait-for-active", "record-addresses"} <= set(
            steps
        )
        create_ids = [
            c.request_id for c in steps["create-servers"].cloud_calls if c.method == "POST"
        ]
        assert len(create_ids) == 1
        assert create_ids[0] in creates
        assert receipt.slices_bi_version
        assert not receipt.problems
        assert SECRET not in receipt.model_dump_json()
        assert "chpasswd" not in receipt.model_dump_json()

    published = [a for a in artifacts if a.type == "markdown" and "Receipts" in str(a.data)]
    assert len(published) == 1
    assert all(rid in str(published[0].data) for rid in made.resource_ids)
    assert not [a for a in artifacts if SECRET in str(a.data)]
    assert not [t for t in texts if SECRET in t or "chpasswd" in t]


def test_a_receipt_is_only_for_its_experiment_and_once_active(cloud: Any) -> None:
    made = make_provision_task()
    for experiment, code in (
        ("exp_someone_else", "resource_not_found"),
        (made.experiment_id, "receipt_not_found"),
    ):
        with session_scope() as session, pytest.raises(NotFound) as info:
            receipts.receipt_for(
                session, resource_id=made.resource_id, experiment_id=experiment, user_id=None
            )
        assert info.value.code == code


def _sample(name: str, **labels: str) -> float:
    with session_scope() as session:
        samples = metric_store.read_samples(session)
    return sum(v for n, lab, v in samples if n == name and lab == labels)


def test_cloud_faults_in_a_run_count_as_errors_and_retries(cloud: Any) -> None:
    """What a run in the worker counts reaches the catalog, hence /metrics."""
    made = make_provision_task()
    metric_store.flush()
    retries_before = _sample("slices_bi_step_retries_total", step="create-servers")
    errors_before = _sample("slices_bi_cloud_errors_total", reason="CloudUnavailable")
    calls_before = _sample("slices_bi_cloud_calls_total", service="compute", outcome="server_error")
    cloud.set_faults(
        error_count={"compute": 2}, error_status=503, match=r"^POST /compute/v2\.1/servers$"
    )
    state = provision_resources(task_id=made.task_id, return_state=True)
    assert state.is_completed(), state.message
    metric_store.flush()
    assert _sample("slices_bi_step_retries_total", step="create-servers") - retries_before == 2
    assert _sample("slices_bi_cloud_errors_total", reason="CloudUnavailable") - errors_before == 2
    server_errors = _sample(
        "slices_bi_cloud_calls_total", service="compute", outcome="server_error"
    )
    assert server_errors - calls_before == 2
    assert (
        _sample("slices_bi_task_duration_seconds_count", kind="provision", status="finished") >= 1
    )
