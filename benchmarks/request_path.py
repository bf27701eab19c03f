"""Time the whole request path on `slices-bi up`: POST -> task finished, DELETE -> finished.

Starts `slices-bi up` (devcloud with its default 3 s boot delay, SQLite, a local Prefect
server) on free ports in a temporary folder, then:
  1. N sequential one-VM requests: API answer time, POST -> finished, DELETE -> finished;
  2. a burst of B one-VM requests sent at once: time until all are finished;
and prints the figures and the cloud API calls per VM (devcloud counters).

    .venv/bin/python benchmarks/request_path.py [--sequential 5] [--burst 10]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from slices_bi.auth import mint_experiment_token, mint_user_token
from slices_bi.settings import Settings

PREFIX = "/apis/bi.slices.eu/v1alpha2"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_stack(folder: Path) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    ports = {"api": free_port(), "prefect": free_port(), "cloud": free_port()}
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SLICES_BI_", "PREFECT_", "OS_"))
    }
    env.update(
        SLICES_BI_DATA_DIR=str(folder / "data"),
        SLICES_BI_API_PORT=str(ports["api"]),
        SLICES_BI_PUBLIC_URL=f"http://127.0.0.1:{ports['api']}",
        SLICES_BI_PREFECT_API_URL=f"http://127.0.0.1:{ports['prefect']}/api",
        SLICES_BI_DEVCLOUD_PORT=str(ports["cloud"]),
    )
    log = (folder / "up.log").open("wb")
    up = subprocess.Popen(
        [str(Path(sys.executable).parent / "slices-bi"), "up"],
        env=env,
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 300
    while b"slices-bi is up" not in (folder / "up.log").read_bytes():
        if up.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"slices-bi up did not start; see {folder / 'up.log'}")
        time.sleep(0.5)
    return up, ports


def wait_finished(client: httpx.Client, task_id: str, headers: dict[str, str]) -> float:
    while True:
        task = client.get(f"{PREFIX}/tasks/{task_id}", headers=headers).json()
        if task["status"] in ("finished", "failed", "cancelled"):
            if task["status"] != "finished":
                sys.exit(f"task {task_id} ended {task['status']}: {task['message']}")
            return time.monotonic()
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sequential", type=int, default=5)
    parser.add_argument("--burst", type=int, default=10)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="slices-bi-bench-"))
    up, ports = start_stack(folder)
    try:
        run(folder, ports, args.sequential, args.burst)
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(timeout=60)


def run(folder: Path, ports: dict[str, int], sequential: int, burst: int) -> None:
    base = f"http://127.0.0.1:{ports['api']}"
    settings = Settings(data_dir=folder / "data", public_url=base, dev_issuer=True)
    user_id = "user_dev.slices-bi_01jdev0000000000000000000000"
    user = mint_user_token(settings, user_id=user_id)
    experiment = mint_experiment_token(
        settings,
        experiment_expires_at=datetime.now(UTC) + timedelta(days=7),
        user_id=user_id,
        ttl_seconds=3600,
    )
    headers = {"Authorization": f"Bearer {experiment}"}
    client = httpx.Client(base_url=base, timeout=60)
    image = next(
        i
        for i in client.get(f"{PREFIX}/disk-images", headers=headers).json()["data"]
        if i["min_disk_mb"] == 0
    )
    flavor = client.get(f"{PREFIX}/flavors", headers=headers).json()["data"][0]
    cloud = f"http://127.0.0.1:{ports['cloud']}/devcloud/counters"
    httpx.delete(cloud)

    def request(name: str) -> tuple[str, str, float, float]:
        body = {
            "request_id": str(uuid.uuid4()),
            "expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
            "resources": [
                {"friendly_name": name, "disk_image_id": image["id"], "flavor_id": flavor["id"]}
            ],
            "tokens": [{"jwt": user}],
        }
        start = time.monotonic()
        response = client.post(f"{PREFIX}/resources", json=body, headers=headers)
        answered = time.monotonic()
        response.raise_for_status()
        task = response.json()
        return task["id"], task["resource_ids"][0], start, answered

    answers, provisions, deletions = [], [], []
    for index in range(sequential):
        task_id, resource_id, start, answered = request(f"seq{index}")
        provisions.append(wait_finished(client, task_id, headers) - start)
        answers.append(answered - start)
        start = time.monotonic()
        deletion = client.delete(f"{PREFIX}/resources/{resource_id}", headers=headers).json()
        deletions.append(wait_finished(client, deletion["id"], headers) - start)
    calls = sum(httpx.get(cloud).json().values())

    burst_start = time.monotonic()
    with ThreadPoolExecutor(max_workers=burst) as pool:
        posted = list(pool.map(request, [f"burst{i}" for i in range(burst)]))
        finished = list(pool.map(lambda p: wait_finished(client, p[0], headers) - p[2], posted))
    burst_total = time.monotonic() - burst_start

    def line(label: str, values: list[float], unit: str = "s") -> None:
        median, low, high = statistics.median(values), min(values), max(values)
        print(f"{label:<32} median {median:6.2f} {unit}  min {low:6.2f}  max {high:6.2f}")

    print(
        f"\nslices-bi up, devcloud boot delay 3 s, SQLite, {sequential} sequential one-VM requests"
    )
    line("POST answered", [a * 1000 for a in answers], "ms")
    line("POST -> task finished", provisions)
    line("DELETE -> task finished", deletions)
    print(f"{'cloud API calls per VM':<32} {calls / sequential:.1f} (provision + delete)")
    print(f"\nburst of {burst} one-VM requests sent at once")
    line("POST -> task finished", finished)
    print(f"{'all finished after':<32} {burst_total:.2f} s")


if __name__ == "__main__":
    main()
