"""catalog-sync: the cloud's images and flavors into the catalog, on a schedule or once.

`run_catalog_sync()` is the plain function (`slices-bi catalog sync` calls it, no Prefect
needed); `catalog_sync` is the flow the worker serves with a schedule. Both list the cloud
first and then apply the listing in one short database transaction (catalog/sync.py holds
the rules), so a cloud error never leaves the catalog half-synced.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from slices_bi.catalog.db import session_scope
from slices_bi.catalog.sync import SyncReport, lock_catalog_sync, sync_flavors, sync_images
from slices_bi.catalog.types import utcnow
from slices_bi.deployments.names import CATALOG_SYNC_FLOW
from slices_bi.flows.common import cloud_task_options
from slices_bi.observability import counters
from slices_bi.openstack.connection import connect
from slices_bi.openstack.images import CloudFlavor, CloudImage, list_flavors, list_images
from slices_bi.settings import Settings, get_settings

REPORT_ARTIFACT_KEY = "catalog-sync-report"
SYNC_CHANGES = "slices_bi_catalog_sync_changes_total"
SYNC_LAST_SUCCESS = "slices_bi_catalog_sync_last_success_timestamp_seconds"


@dataclass(frozen=True)
class CloudCatalog:
    """What the cloud offers right now, after the sync filters."""

    images: list[CloudImage]
    flavors: list[CloudFlavor]


def fetch_cloud_catalog(settings: Settings | None = None) -> CloudCatalog:
    """List the images (filtered by the `catalog_sync_image_*` settings) and public flavors.

    Raises `CloudError`; nothing is written.
    """
    resolved = settings or get_settings()
    conn = connect(resolved)
    images = list_images(
        conn,
        visibilities=resolved.catalog_sync_image_visibility,
        tag=resolved.catalog_sync_image_tag,
        name_pattern=resolved.catalog_sync_image_name_pattern,
    )
    return CloudCatalog(images=images, flavors=list_flavors(conn))


def apply_cloud_catalog(catalog: CloudCatalog, settings: Settings | None = None) -> SyncReport:
    """Upsert `catalog` into the catalog database in one transaction; returns what changed."""
    resolved = settings or get_settings()
    report = SyncReport()
    with session_scope(resolved) as session:
        lock_catalog_sync(session)
        now = utcnow()
        report.images = sync_images(
            session,
            catalog.images,
            site_id=resolved.site_id,
            default_username=resolved.default_username,
            now=now,
        )
        report.flavors = sync_flavors(session, catalog.flavors, site_id=resolved.site_id, now=now)
    # Counted outside the transaction: an unchanged cloud writes nothing to the catalog.
    for table, counts in (("images", report.images), ("flavors", report.flavors)):
        for change in ("added", "updated", "hidden", "unhidden", "linked"):
            if getattr(counts, change):
                counters.inc(
                    SYNC_CHANGES, {"table": table, "change": change}, getattr(counts, change)
                )
    counters.set_gauge(SYNC_LAST_SUCCESS, now.timestamp())
    return report


def run_catalog_sync(settings: Settings | None = None) -> SyncReport:
    """One catalog sync without Prefect: list the cloud, upsert, return the report.

    Raises `CloudError` when the cloud cannot be listed (the catalog is then untouched).
    """
    started_at, start = utcnow(), time.perf_counter()
    report = apply_cloud_catalog(fetch_cloud_catalog(settings), settings)
    report.started_at = started_at
    report.duration_seconds = time.perf_counter() - start
    return report


@task(name="list-cloud-catalog", **cloud_task_options())
def list_cloud_catalog() -> CloudCatalog:
    """List the cloud's images and flavors (retried on transient cloud errors)."""
    return fetch_cloud_catalog()


@task(name="update-catalog", cache_policy=NO_CACHE, persist_result=False)
def update_catalog(catalog: CloudCatalog) -> SyncReport:
    """Apply the listing to the catalog database (one transaction)."""
    return apply_cloud_catalog(catalog)


def _run_name() -> str:
    return f"catalog-sync {utcnow():%Y-%m-%d %H:%M:%S}"


@flow(name=CATALOG_SYNC_FLOW, flow_run_name=_run_name, log_prints=False)
def catalog_sync() -> SyncReport:
    """Copy the cloud's images and public flavors into the slices-bi catalog.

    Idempotent: an unchanged cloud changes nothing. Images or flavors gone from the cloud
    are hidden, never deleted; fields an admin set by hand are kept. The report is
    published as the `catalog-sync-report` artifact.
    """
    logger = get_run_logger()
    started_at, start = utcnow(), time.perf_counter()
    catalog = list_cloud_catalog()
    logger.info("cloud lists %d image(s), %d flavor(s)", len(catalog.images), len(catalog.flavors))
    report = update_catalog(catalog)
    report.started_at = started_at
    report.duration_seconds = time.perf_counter() - start
    create_markdown_artifact(
        key=REPORT_ARTIFACT_KEY,
        markdown=report.to_markdown(),
        description="What the last catalog sync added, updated, hid and un-hid",
    )
    logger.info("catalog sync done: %s", report.summary())
    return report
