"""What `/metrics` reads at each scrape, beyond this process's HTTP metrics: the catalog
(tasks, resources, unsettled tasks, and the samples the flows counted), whether Prefect
answers, and the free space of the data directory.

A few aggregate queries per scrape (`slices_bi.catalog.metric_queries`); a catalog that
does not answer gives `slices_bi_catalog_up 0`, never a failed scrape.
"""

from __future__ import annotations

import logging
import math
import shutil
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator

import httpx
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from slices_bi.catalog import metric_queries, metric_store
from slices_bi.catalog.db import session_scope
from slices_bi.catalog.metric_queries import Snapshot
from slices_bi.settings import Settings

logger = logging.getLogger(__name__)

HISTOGRAMS = {"slices_bi_task_duration_seconds": metric_store.DURATION_BUCKETS}
PREFECT_CHECK_SECONDS = 15.0
PREFECT_TIMEOUT_SECONDS = 2.0


class PrefectProbe:
    """Whether the Prefect server answers its health check, asked at most every 15 s."""

    def __init__(self, api_url: str) -> None:
        self._url = api_url.rstrip("/") + "/health"
        self._lock = threading.Lock()
        self._checked = -math.inf
        self._up = False

    def up(self) -> bool:
        with self._lock:
            if time.monotonic() - self._checked >= PREFECT_CHECK_SECONDS:
                try:
                    answer = httpx.get(self._url, timeout=PREFECT_TIMEOUT_SECONDS)
                    self._up = answer.status_code == 200
                except httpx.HTTPError:
                    self._up = False
                self._checked = time.monotonic()
            return self._up


class CatalogCollector(Collector):
    """A prometheus_client collector reading the catalog, Prefect and the disk at scrape."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._prefect = PrefectProbe(settings.prefect_api_url)

    def describe(self) -> Iterable[Metric]:
        return []  # collected at scrape time only: the registry must not call collect early

    def collect(self) -> Iterator[Metric]:
        yield from self._infrastructure()
        try:
            with session_scope(self._settings) as session:
                found = metric_queries.snapshot(session)
        except Exception:
            logger.warning("metrics: the catalog did not answer", exc_info=True)
            yield GaugeMetricFamily("slices_bi_catalog_up", "The catalog answered", value=0)
            return
        yield GaugeMetricFamily("slices_bi_catalog_up", "The catalog answered", value=1)
        yield from _catalog_metrics(found)
        yield from _samples(found.samples)

    def _infrastructure(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "slices_bi_prefect_up",
            "The Prefect server answers its health check",
            value=1 if self._prefect.up() else 0,
        )
        try:
            usage = shutil.disk_usage(self._settings.data_dir)
        except OSError:
            return
        yield GaugeMetricFamily(
            "slices_bi_data_dir_free_bytes", "Free space of the data directory", value=usage.free
        )
        yield GaugeMetricFamily(
            "slices_bi_data_dir_size_bytes",
            "Size of the file system of the data directory",
            value=usage.total,
        )


def _catalog_metrics(found: Snapshot) -> Iterator[Metric]:
    tasks = GaugeMetricFamily(
        "slices_bi_tasks", "Tasks by kind and status", labels=["kind", "status"]
    )
    for (kind, status), count in sorted(found.tasks.items()):
        tasks.add_metric([kind, status], count)
    yield tasks
    resources = GaugeMetricFamily("slices_bi_resources", "Resources by status", labels=["status"])
    for status, count in sorted(found.resources.items()):
        resources.add_metric([status], count)
    yield resources
    unsettled = GaugeMetricFamily(
        "slices_bi_unsettled_tasks",
        "Tasks pending or running, made at least `older_than_seconds` ago",
        labels=["older_than_seconds"],
    )
    for age, count in sorted(found.unsettled_older_than.items()):
        unsettled.add_metric([str(age)], count)
    yield unsettled
    yield GaugeMetricFamily(
        "slices_bi_unsettled_task_oldest_age_seconds",
        "Age of the oldest task pending or running (0 without one)",
        value=found.oldest_unsettled_seconds,
    )


def _samples(samples: list[tuple[str, dict[str, str], float]]) -> Iterator[Metric]:
    plain: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    histograms: dict[str, list[tuple[str, dict[str, str], float]]] = defaultdict(list)
    for name, labels, value in samples:
        base = next((h for h in HISTOGRAMS if name.startswith(h + "_")), None)
        if base is not None:
            histograms[base].append((name.removeprefix(base + "_"), labels, value))
        else:
            plain[name].append((labels, value))
    for name, rows in sorted(plain.items()):
        keys = sorted({k for labels, _ in rows for k in labels})
        family: CounterMetricFamily | GaugeMetricFamily
        if name.endswith("_total"):
            family = CounterMetricFamily(name.removesuffix("_total"), _doc(name), labels=keys)
        else:
            family = GaugeMetricFamily(name, _doc(name), labels=keys)
        for labels, value in rows:
            family.add_metric([labels.get(k, "") for k in keys], value)
        yield family
    for base, parts in sorted(histograms.items()):
        yield _histogram(base, parts)


def _histogram(base: str, rows: list[tuple[str, dict[str, str], float]]) -> Metric:
    per: dict[tuple[tuple[str, str], ...], dict[str, float]] = defaultdict(dict)
    sums: dict[tuple[tuple[str, str], ...], float] = defaultdict(float)
    for part, labels, value in rows:
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        if part == "bucket":
            per[key][labels.get("le", "+Inf")] = value
        elif part == "sum":
            sums[key] = value
        elif part == "count":
            per[key].setdefault("+Inf", 0.0)
    keys = sorted({k for key in per for k, _ in key})
    family = HistogramMetricFamily(base, _doc(base), labels=keys)
    bounds = [repr(float(b)) for b in HISTOGRAMS[base]] + ["+Inf"]
    for key, buckets in sorted(per.items()):
        running, cumulative = 0.0, []
        for bound in bounds:
            running += buckets.get(bound, 0.0)
            cumulative.append((bound, running))
        values = dict(key)
        family.add_metric([values.get(k, "") for k in keys], cumulative, sum_value=sums[key])
    return family


_DOCS = {
    "slices_bi_task_duration_seconds": "From POST or DELETE to the end of its task",
    "slices_bi_cloud_calls_total": "Answers of the cloud by service and outcome",
    "slices_bi_cloud_errors_total": "Cloud errors met by the adapter, by reason",
    "slices_bi_step_retries_total": "Tries of flow steps that met transient cloud errors",
    "slices_bi_run_resumes_total": "Runs scheduled again after a crash or a lost claim",
    "slices_bi_expiry_cleanup_runs_total": "expiry-cleanup runs by outcome",
    "slices_bi_expiry_cleanup_deletions_total": "Deletions expiry-cleanup started",
    "slices_bi_expiry_cleanup_leaks_reaped_total": "Leaked servers expiry-cleanup deleted",
    "slices_bi_expiry_cleanup_vanished_marked_total": "Active resources whose server vanished",
    "slices_bi_expiry_cleanup_last_success_timestamp_seconds": "Last full expiry-cleanup",
    "slices_bi_catalog_sync_changes_total": "Catalog entries catalog-sync changed",
    "slices_bi_catalog_sync_last_success_timestamp_seconds": "Last catalog-sync applied",
}


def _doc(name: str) -> str:
    return _DOCS.get(name, name)
