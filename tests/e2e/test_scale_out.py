"""Beyond one machine: a PostgreSQL-backed Prefect server and two workers share the runs, and
no run executes twice.

Needs the PostgreSQL server that CI runs (127.0.0.1:5432, trust auth); the Prefect server
gets a database of its own, made and dropped here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.settings import PREFECT_API_URL, temporary_settings

from slices_bi.catalog.submission import submit_task
from slices_bi.deployments.executor import claimant
from slices_bi.deployments.launcher import PrefectLauncher
from tests.e2e.workers import WorkerProcess, wait_until
from tests.flows.helpers import make_provision_task, task_row

pytestmark = pytest.mark.slow
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def postgres_prefect(tmp_path: Path) -> Iterator[str]:
    """A Prefect server on a fresh PostgreSQL database; its API URL."""
    name = f"prefect_scale_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server at 127.0.0.1:5432 ({exc})")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_SERVER_DATABASE_CONNECTION_URL=f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    log = (tmp_path / "prefect-server.log").open("wb")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "prefect"), "server", "start", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/api"

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return server.poll() is not None  # died: let the assertion below say so

    try:
        wait_until(healthy, 180, "the PostgreSQL-backed Prefect server", every=0.5)
        assert server.poll() is None, (tmp_path / "prefect-server.log").read_text()[-2000:]
        yield url
    finally:
        server.send_signal(2)
        server.wait(timeout=60)
        log.close()
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_two_workers_share_the_runs_and_none_runs_twice(
    postgres_prefect: str, migrated_database: str, devcloud: Any, db: str, tmp_path: Path
) -> None:
    # Each worker runs 8 at once and each run lasts a boot (3 s): 16 runs need both.
    devcloud.set_config(boot_delay=3)
    workers = [
        WorkerProcess(
            postgres_prefect,
            tmp_path / f"worker-{name}.log",
            SLICES_BI_WORKER_NAME=name,
            SLICES_BI_WORKER_LIMIT="8",
        )
        for name in ("a", "b")
    ]
    with temporary_settings({PREFECT_API_URL: postgres_prefect}):
        for worker in workers:
            worker.start()
        try:
            made = [make_provision_task() for _ in range(16)]
            launcher = PrefectLauncher()
            for one in made:
                assert submit_task(one.task_id, launcher) is not None
            wait_until(
                lambda: all(task_row(m.task_id).status.value == "finished" for m in made),
                240,
                "16 provisions finished",
                every=0.5,
            )
            claims: Counter[str] = Counter()
            with get_client(sync_client=True) as client:
                for one in made:
                    states = client.read_flow_run_states(UUID(task_row(one.task_id).flow_run_id))
                    running = [s for s in states if s.type == StateType.RUNNING]
                    pending = [s for s in states if s.type == StateType.PENDING]
                    assert len(running) == 1  # executed once, by one worker
                    assert len(pending) == 1
                    claims[claimant(pending[0].message) or "?"] += 1
        finally:
            for worker in workers:
                worker.stop()
            devcloud.set_config(boot_delay=0.2)
    print(f"\nruns claimed per worker: {dict(claims)}")
    assert set(claims) == {"a", "b"}  # both took a share
    assert sum(claims.values()) == 16
