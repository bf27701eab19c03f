"""`slices-bi prefect-server` (what `up` runs): on SQLite, a burst of concurrent writes waits
its turn instead of getting 503 "database is locked", and the UI and services are there."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.workers import wait_until

BURST = 50


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(tmp_path),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{tmp_path / 'prefect.db'}",
    )
    log = (tmp_path / "prefect.log").open("wb")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "slices-bi"), "prefect-server", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/api/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return process.poll() is not None  # ends the wait; asserted below

    try:
        wait_until(healthy, 120, "the Prefect server answering")
        assert process.poll() is None, (tmp_path / "prefect.log").read_text()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_a_burst_of_writes_gets_no_5xx(prefect_server: str) -> None:
    api = f"{prefect_server}/api"
    flow = httpx.post(f"{api}/flows/", json={"name": "burst"}).json()
    deployment = httpx.post(f"{api}/deployments/", json={"name": "d", "flow_id": flow["id"]})
    answers: Counter[int] = Counter()
    lock = threading.Lock()

    def one_run(index: int) -> None:
        # A run's life as the API and a worker write it: created, claimed, running, done.
        with httpx.Client(base_url=api, timeout=120) as client:
            run = client.post(
                f"/deployments/{deployment.json()['id']}/create_flow_run",
                json={"idempotency_key": f"burst-{index}"},
            )
            with lock:
                answers[run.status_code] += 1
            if run.status_code != 201:
                return
            for state in ("PENDING", "RUNNING", "COMPLETED"):
                answer = client.post(
                    f"/flow_runs/{run.json()['id']}/set_state", json={"state": {"type": state}}
                )
                with lock:
                    answers[answer.status_code] += 1

    with ThreadPoolExecutor(BURST) as pool:
        list(pool.map(one_run, range(BURST)))
    assert answers == {201: 4 * BURST}


def test_it_serves_the_ui(prefect_server: str) -> None:
    page = httpx.get(prefect_server)
    assert page.status_code == 200
    assert "<html" in page.text.lower()
