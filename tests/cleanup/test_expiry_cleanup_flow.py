"""The expiry-cleanup flow on a real Prefect server: real delete-resource runs, and the report."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    DeploymentFilter,
    DeploymentFilterId,
)
from sqlmodel import Session, select

from slices_bi.catalog.models import ResourceStatus, Task, TaskKind
from slices_bi.deployments import launcher as launcher_module
from slices_bi.deployments.names import DELETE_FLOW
from slices_bi.flows.deprovision import delete_resource
from slices_bi.flows.expiry_cleanup import REPORT_ARTIFACT_KEY, CleanupReport, expiry_cleanup
from tests.cleanup.conftest import Catalog


@pytest.fixture
def delete_deployment(prefect_api_url: str) -> Iterator[UUID]:
    """The delete-resource deployment, registered but not served: its runs stay scheduled."""
    deployment: Any = delete_resource.to_deployment(name=DELETE_FLOW)
    deployment_id: UUID = deployment.apply()
    launcher_module._default_launcher = None  # no deployment id cached from an earlier test
    yield deployment_id
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        )
        for run in runs:  # a worker started later in the session must not pick these up
            client.delete_flow_run(run.id)


def test_flow_starts_a_real_delete_run_once_and_reports(
    delete_deployment: UUID, cloud: Any, catalog: Catalog, session: Session
) -> None:
    expired = catalog.resource(catalog.experiment(), expires_in=timedelta(minutes=-5))

    report = expiry_cleanup()

    assert isinstance(report, CleanupReport)
    assert report.deletions.started == 1
    session.expire_all()
    (task,) = session.exec(select(Task).where(Task.kind == TaskKind.DELETE)).all()
    assert task.resource_ids == [expired]
    assert task.flow_run_id
    assert catalog.get(expired).status == ResourceStatus.DELETING
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(task.flow_run_id))
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[REPORT_ARTIFACT_KEY])),
        )
    assert (run.deployment_id, run.parameters) == (delete_deployment, {"task_id": task.id})
    latest = max(artifacts, key=lambda a: a.created or 0)
    assert "| deletions started | 1 |" in str(latest.data)

    second = expiry_cleanup()

    assert second.deletions.started == 0
    session.expire_all()
    assert len(session.exec(select(Task).where(Task.kind == TaskKind.DELETE)).all()) == 1
