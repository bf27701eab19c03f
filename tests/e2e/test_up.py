"""`slices-bi up`, the README's main command: starts every part, serves, stops them all in
order and leaves nothing behind; refuses a second instance; survives being stopped in the
middle of a scheduled job."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from openstack.config.loader import OpenStackConfig
from openstack.connection import Connection

from slices_bi.auth import mint_experiment_token, mint_user_token
from slices_bi.settings import Settings
from tests.e2e.workers import wait_until

pytestmark = pytest.mark.slow
PREFIX = "/apis/bi.slices.eu/v1alpha2"
USER = "user_dev.slices-bi_01jdev0000000000000000000000"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Up:
    """One `slices-bi up` in `folder`, on fixed free ports."""

    def __init__(self, folder: Path, **settings: str) -> None:
        self.folder = folder
        self.ports = {"api": _free_port(), "prefect": _free_port(), "cloud": _free_port()}
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SLICES_BI_", "PREFECT_", "OS_"))
        }
        self.env.update(
            SLICES_BI_DATA_DIR=str(folder / "data"),
            SLICES_BI_API_PORT=str(self.ports["api"]),
            SLICES_BI_PUBLIC_URL=self.api,
            SLICES_BI_PREFECT_API_URL=f"http://127.0.0.1:{self.ports['prefect']}/api",
            SLICES_BI_DEVCLOUD_PORT=str(self.ports["cloud"]),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            **settings,
        )
        self.process: subprocess.Popen[str] | None = None
        self.log = folder / "up.log"
        self.offset = 0

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def cloud(self) -> str:
        return f"http://127.0.0.1:{self.ports['cloud']}"

    @property
    def prefect(self) -> str:
        return f"http://127.0.0.1:{self.ports['prefect']}/api"

    def start(self, wait: bool = True) -> subprocess.Popen[str]:
        self.offset = self.log.stat().st_size if self.log.exists() else 0
        output = self.log.open("a")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "slices-bi"), "up"],
            env=self.env,
            cwd=self.folder,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
        output.close()
        if wait:
            wait_until(
                lambda: "slices-bi is up" in self.text() or self.process.poll() is not None,
                240,
                "up started",
                every=0.5,
            )
            assert self.process.poll() is None, self.text()[-3000:]
        return self.process

    def text(self) -> str:
        """What the latest start printed."""
        return self.log.read_text(errors="replace")[self.offset :]

    def stop(self) -> tuple[int, float, list[psutil.Process]]:
        """SIGTERM (as Ctrl-C); (exit code, seconds, every descendant seen before)."""
        assert self.process is not None
        family = psutil.Process(self.process.pid).children(recursive=True)
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=60)
        return code, time.monotonic() - started, family

    def headers(self, settings: Settings) -> tuple[dict[str, str], str]:
        experiment = mint_experiment_token(
            settings,
            experiment_id="exp_up_test",
            experiment_expires_at=datetime.now(UTC) + timedelta(days=7),
            user_id=USER,
            ttl_seconds=900,
        )
        return {"Authorization": f"Bearer {experiment}"}, mint_user_token(settings, user_id=USER)


def _request(up: Up, settings: Settings, name: str, expires_in: timedelta) -> dict[str, Any]:
    headers, user = up.headers(settings)
    images = httpx.get(f"{up.api}{PREFIX}/disk-images", headers=headers).json()["data"]
    flavors = httpx.get(f"{up.api}{PREFIX}/flavors", headers=headers).json()["data"]
    body = {
        "request_id": str(uuid.uuid4()),
        "expires_at": (datetime.now(UTC) + expires_in).isoformat(),
        "resources": [
            {
                "friendly_name": name,
                "disk_image_id": next(i for i in images if i["min_disk_mb"] == 0)["id"],
                "flavor_id": flavors[0]["id"],
            }
        ],
        "tokens": [{"jwt": user}],
    }
    response = httpx.post(f"{up.api}{PREFIX}/resources", json=body, headers=headers)
    assert response.status_code == 200, response.text
    task: dict[str, Any] = response.json()
    return task


def _resource(up: Up, settings: Settings, resource_id: str) -> dict[str, Any]:
    headers, _ = up.headers(settings)
    row: dict[str, Any] = httpx.get(
        f"{up.api}{PREFIX}/resources/{resource_id}", headers=headers
    ).json()
    return row


def _cleanup_runs(up: Up, state: str) -> list[dict[str, Any]]:
    body = {
        "flow_runs": {"state": {"type": {"any_": [state]}}},
        "deployments": {"name": {"any_": ["expiry-cleanup"]}},
    }
    runs: list[dict[str, Any]] = httpx.post(f"{up.prefect}/flow_runs/filter", json=body).json()
    return runs


def test_up_stops_in_order_refuses_a_twin_and_resumes_its_schedules(tmp_path: Path) -> None:
    up = Up(tmp_path, SLICES_BI_EXPIRY_CLEANUP_INTERVAL_SECONDS="10")
    up.start()
    settings = Settings(data_dir=tmp_path / "data", public_url=up.api, dev_issuer=True)
    try:
        assert httpx.get(f"{up.api}/docs").status_code == 200
        # The start-up catalog sync filled the catalog, as a flow run.
        headers, _ = up.headers(settings)
        images = httpx.get(f"{up.api}{PREFIX}/disk-images", headers=headers)
        assert images.json()["count"] >= 3
        # Other shells find the stack: up left its settings in a .env beside it.
        assert f"PREFECT_API_URL={up.prefect}" in (tmp_path / ".env").read_text()

        # A second up on the same data directory and ports refuses at once, touching nothing.
        twin = subprocess.run(
            [str(Path(sys.executable).parent / "slices-bi"), "up"],
            env=up.env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert twin.returncode != 0
        assert "another slices-bi up" in twin.stderr
        assert len(twin.stderr.strip().splitlines()) == 1

        # A VM that must outlive the restart of devcloud.
        task = _request(up, settings, "keeper", timedelta(days=1))
        resource_id = task["resource_ids"][0]
        wait_until(lambda: _resource(up, settings, resource_id)["status"] == "active", 120, "VM")
        server_id = _resource(up, settings, resource_id)["server_id"]

        # Stop up while an expiry-cleanup run is in flight (a slow cloud keeps it busy).
        httpx.put(f"{up.cloud}/devcloud/faults", json={"latency": 3})
        wait_until(lambda: _cleanup_runs(up, "RUNNING"), 90, "an expiry-cleanup in flight")
    finally:
        code, took, family = up.stop()
    text = up.text()
    print(f"\nup stopped in {took:.1f} s")
    assert code == 0, text[-3000:]
    assert "had to kill" not in text  # every part stopped on SIGTERM, in time
    assert not [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not any(_listening(port) for port in up.ports.values())

    up.start()  # again, on the same data directory
    try:
        # devcloud kept its servers; the cut-off cleanup run was handed back and resumed.
        assert _resource(up, settings, resource_id)["status"] == "active"
        clouds = OpenStackConfig(
            config_files=[str(tmp_path / "data" / "clouds.yaml")], load_envvars=False
        )
        conn = Connection(config=clouds.get_one(cloud="devcloud"))
        listed = {s.id: s.status for s in conn.compute.servers()}
        assert listed.get(server_id) == "ACTIVE", (server_id, listed)
        conn.close()
        wait_until(lambda: not _cleanup_runs(up, "RUNNING"), 60, "no cleanup stuck running")
        # The next scheduled cleanup deletes a resource once it expires.
        task = _request(up, settings, "short", timedelta(seconds=25))
        expiring = task["resource_ids"][0]
        wait_until(
            lambda: _resource(up, settings, expiring)["status"] == "deleted",
            150,
            "the expired resource deleted by the schedule",
            every=1,
        )
        assert _resource(up, settings, resource_id)["server_id"] == server_id
    finally:
        code, _, _ = up.stop()
    assert code == 0
