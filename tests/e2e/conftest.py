"""A real worker process (`slices-bi worker`) serving the deployments on the test Prefect server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound

from slices_bi.deployments.names import DEPLOYMENT_OF_KIND


def _deployments_ready() -> bool:
    with get_client(sync_client=True) as client:
        try:
            for name in DEPLOYMENT_OF_KIND.values():
                client.read_deployment_by_name(name)
        except ObjectNotFound:
            return False
    return True


@pytest.fixture(scope="module")
def worker(
    prefect_api_url: str, migrated_database: str, devcloud_server: object, data_dir: Path
) -> Iterator[subprocess.Popen[bytes]]:
    # Schedules a day apart: the scheduled jobs must not run in the middle of other tests.
    env = dict(
        os.environ,
        PREFECT_API_URL=prefect_api_url,
        PREFECT_RUNNER_POLL_FREQUENCY="1",
        SLICES_BI_CATALOG_SYNC_INTERVAL_SECONDS="86400",
        SLICES_BI_EXPIRY_CLEANUP_INTERVAL_SECONDS="86400",
    )
    log = (data_dir / "worker.log").open("wb")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "slices-bi"), "worker"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while not _deployments_ready():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"worker did not start; see {data_dir / 'worker.log'}")
            time.sleep(1)
        yield process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
