"""`slices-bi up`, the README's main command: starts every part, serves, and stops them all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from slices_bi.auth import mint_user_token
from slices_bi.settings import Settings

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_up_starts_the_stack_and_stops_it(tmp_path: Path):
    api, prefect, cloud = _free_port(), _free_port(), _free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SLICES_BI_", "PREFECT_", "OS_"))
    }
    env.update(
        SLICES_BI_DATA_DIR=str(tmp_path / "data"),
        SLICES_BI_API_PORT=str(api),
        SLICES_BI_PUBLIC_URL=f"http://127.0.0.1:{api}",
        SLICES_BI_PREFECT_API_URL=f"http://127.0.0.1:{prefect}/api",
        SLICES_BI_DEVCLOUD_PORT=str(cloud),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    output = (tmp_path / "up.log").open("w+")
    up = subprocess.Popen(
        [str(Path(sys.executable).parent / "slices-bi"), "up"],
        env=env,
        cwd=tmp_path,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 240
        while "slices-bi is up" not in (tmp_path / "up.log").read_text():
            assert up.poll() is None, (tmp_path / "up.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "up did not finish starting"
            time.sleep(1)
        base = f"http://127.0.0.1:{api}"
        assert httpx.get(f"{base}/docs").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{prefect}/api/health").status_code == 200
        settings = Settings(data_dir=tmp_path / "data", public_url=base, dev_issuer=True)
        token = mint_user_token(settings, user_id="user_dev.slices-bi_01jdev0000000000000000000000")
        images = httpx.get(
            f"{base}/apis/bi.slices.eu/v1alpha2/disk-images",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert images.status_code == 200, images.text
        assert images.json()["count"] >= 3  # devcloud's images, synced at start
    finally:
        up.send_signal(signal.SIGTERM)
        code = up.wait(timeout=60)
        output.close()
    assert code == 0
    assert "Stopping slices-bi" in (tmp_path / "up.log").read_text()
    assert not any(_listening(port) for port in (api, prefect, cloud))
