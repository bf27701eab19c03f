"""The catalog-sync flow on a real Prefect server: result and report artifact."""

from __future__ import annotations

from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from sqlmodel import Session, select

from slices_bi.catalog.models import DiskImage, Flavor
from slices_bi.catalog.sync import SyncReport
from slices_bi.flows.catalog_sync import REPORT_ARTIFACT_KEY, catalog_sync


def test_flow_syncs_and_publishes_its_report(
    prefect_api_url: str, cloud: Any, session: Session
) -> None:
    report = catalog_sync()

    assert isinstance(report, SyncReport)
    assert (report.images.added, report.flavors.added) == (3, 4)
    assert len(session.exec(select(DiskImage)).all()) == 3
    assert len(session.exec(select(Flavor)).all()) == 4
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[REPORT_ARTIFACT_KEY])),
        )
    assert artifacts, "no catalog-sync-report artifact"
    latest = max(artifacts, key=lambda a: a.created or 0)
    assert latest.type == "markdown"
    assert "| images | 3 | 3 |" in str(latest.data)

    second = catalog_sync()

    assert not second.changed
