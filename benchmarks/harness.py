"""What the benchmarks share: a fresh `slices-bi up` on free ports, tokens, the API client,
task waits, devcloud counters and the resident memory of the whole stack.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil

from slices_bi.auth import mint_experiment_token, mint_user_token
from slices_bi.settings import Settings

PREFIX = "/apis/bi.slices.eu/v1alpha2"
USER_ID = "user_dev.slices-bi_01jdev0000000000000000000000"
FINAL = ("finished", "failed", "cancelled")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Stack:
    """A running `slices-bi up` in its own folder."""

    folder: Path
    process: subprocess.Popen[bytes]
    ports: dict[str, int]
    settings: Settings
    peak_rss: int = 0
    _sampling: bool = False
    _sampler: threading.Thread | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def cloud(self) -> str:
        return f"http://127.0.0.1:{self.ports['cloud']}"

    def clouds_yaml(self) -> Path:
        return self.folder / "data" / "clouds.yaml"

    def tokens(self, experiment_id: str | None = None) -> tuple[str, dict[str, str]]:
        """A user token and the headers of a fresh experiment token (one hour)."""
        user = mint_user_token(self.settings, user_id=USER_ID)
        experiment = mint_experiment_token(
            self.settings,
            experiment_id=experiment_id,
            experiment_expires_at=datetime.now(UTC) + timedelta(days=7),
            user_id=USER_ID,
            ttl_seconds=3600,
        )
        return user, {"Authorization": f"Bearer {experiment}"}

    def stack_rss(self) -> int:
        """Resident bytes of `up` and every descendant (the whole stack)."""
        try:
            root = psutil.Process(self.process.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0
        total = 0
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total

    def start_sampling(self, interval: float = 0.25) -> None:
        self._sampling = True

        def sample() -> None:
            while self._sampling:
                self.peak_rss = max(self.peak_rss, self.stack_rss())
                time.sleep(interval)

        self._sampler = threading.Thread(target=sample, daemon=True)
        self._sampler.start()

    def prefect_5xx(self) -> int:
        """Server errors the Prefect server logged (retryable ones and the others)."""
        log = self.folder / "data" / "logs" / "prefect-server.log"
        if not log.exists():
            return 0
        text = log.read_text(errors="replace")
        return text.count("Encountered retryable exception") + text.count(
            "Encountered exception in request"
        )

    def counters(self) -> int:
        return sum(httpx.get(f"{self.cloud}/devcloud/counters").json().values())

    def reset_counters(self) -> None:
        httpx.delete(f"{self.cloud}/devcloud/counters")

    def stop(self) -> None:
        self._sampling = False
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_stack(boot_delay: float, extra_env: dict[str, str] | None = None) -> Stack:
    """Start `slices-bi up` (devcloud, SQLite, local Prefect) in a new temporary folder."""
    folder = Path(tempfile.mkdtemp(prefix="slices-bi-bench-"))
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
        SLICES_BI_DEVCLOUD_BOOT_DELAY_SECONDS=str(boot_delay),
        # Count the SQLite "database is locked" answers the Prefect server gives.
        PREFECT_API_LOG_RETRYABLE_ERRORS="true",
        **(extra_env or {}),
    )
    log = (folder / "up.log").open("wb")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "slices-bi"), "up"],
        env=env,
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 300
    while b"slices-bi is up" not in (folder / "up.log").read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"slices-bi up did not start; see {folder / 'up.log'}")
        time.sleep(0.5)
    settings = Settings(
        data_dir=folder / "data", public_url=f"http://127.0.0.1:{ports['api']}", dev_issuer=True
    )
    return Stack(folder=folder, process=process, ports=ports, settings=settings)


@dataclass
class Api:
    """The slices-bi API as an experimenter uses it."""

    stack: Stack
    experiment_id: str = field(default_factory=lambda: f"exp_bench_{uuid.uuid4().hex[:12]}")

    def __post_init__(self) -> None:
        self.user, self.headers = self.stack.tokens(self.experiment_id)
        self.client = httpx.Client(
            base_url=self.stack.api,
            timeout=120,
            limits=httpx.Limits(max_connections=400, max_keepalive_connections=400),
        )
        images = self.client.get(f"{PREFIX}/disk-images", headers=self.headers).json()["data"]
        self.image = next(i for i in images if i["min_disk_mb"] == 0)["id"]
        flavors = self.client.get(f"{PREFIX}/flavors", headers=self.headers).json()["data"]
        self.flavor = flavors[0]["id"]

    def request_body(self, names: list[str], expires_in: timedelta) -> dict[str, Any]:
        return {
            "request_id": str(uuid.uuid4()),
            "expires_at": (datetime.now(UTC) + expires_in).isoformat(),
            "resources": [
                {"friendly_name": name, "disk_image_id": self.image, "flavor_id": self.flavor}
                for name in names
            ],
            "tokens": [{"jwt": self.user}],
        }

    def post(self, names: list[str], expires_in: timedelta = timedelta(days=1)) -> dict[str, Any]:
        response = self.client.post(
            f"{PREFIX}/resources", json=self.request_body(names, expires_in), headers=self.headers
        )
        response.raise_for_status()
        task: dict[str, Any] = response.json()
        return task

    def delete(self, resource_id: str) -> dict[str, Any]:
        response = self.client.delete(f"{PREFIX}/resources/{resource_id}", headers=self.headers)
        response.raise_for_status()
        task: dict[str, Any] = response.json()
        return task

    def task(self, task_id: str) -> dict[str, Any]:
        task: dict[str, Any] = self.client.get(
            f"{PREFIX}/tasks/{task_id}", headers=self.headers
        ).json()
        return task

    def resources(self, include_deleted: bool = False) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.client.get(
            f"{PREFIX}/resources",
            params={"include_deleted": include_deleted},
            headers=self.headers,
        ).json()["data"]
        return rows

    def wait_all(self, task_ids: list[str], timeout: float = 1800) -> float:
        """Poll until every task is final; the time the last one was seen final."""
        open_ids = set(task_ids)
        deadline = time.monotonic() + timeout
        while open_ids:
            for task_id in list(open_ids):
                task = self.task(task_id)
                if task["status"] in FINAL:
                    if task["status"] != "finished":
                        print(f"  ! task {task_id} ended {task['status']}: {task['message']}")
                    open_ids.discard(task_id)
            if open_ids:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{len(open_ids)} task(s) still open")
                time.sleep(0.1)
        return time.monotonic()
