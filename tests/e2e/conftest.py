"""A real worker process (`slices-bi worker`) serving the deployments on the test Prefect server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.workers import WorkerProcess


@pytest.fixture(scope="module")
def worker(
    prefect_api_url: str, migrated_database: str, devcloud_server: object, data_dir: Path
) -> Iterator[WorkerProcess]:
    process = WorkerProcess(prefect_api_url, data_dir / "worker.log").start()
    try:
        yield process
    finally:
        process.stop()
