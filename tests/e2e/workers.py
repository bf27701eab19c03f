"""A real `slices-bi worker` process, in a process group of its own so that tests can stop it
gracefully or kill the whole group the way an OOM kill or a lost machine would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound

from slices_bi.deployments.names import DEPLOYMENT_OF_KIND
from slices_bi.flows.slot_pool import SlotPool, lease_record


def wait_until(
    check: Callable[[], object], timeout: float, what: str, every: float = 0.2
) -> object:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)


def _deployments_ready() -> bool:
    with get_client(sync_client=True) as client:
        try:
            for name in DEPLOYMENT_OF_KIND.values():
                client.read_deployment_by_name(name)
        except ObjectNotFound:
            return False
    return True


class WorkerProcess:
    """Starts, stops and kills `slices-bi worker` with the test's settings."""

    def __init__(self, prefect_api_url: str, log_path: Path, **settings: str) -> None:
        self.env = dict(
            os.environ,
            PREFECT_API_URL=prefect_api_url,
            # Schedules a day apart unless a test asks: jobs must not run in other tests.
            SLICES_BI_CATALOG_SYNC_INTERVAL_SECONDS="86400",
            SLICES_BI_EXPIRY_CLEANUP_INTERVAL_SECONDS="86400",
            SLICES_BI_WORKER_NAME="test-worker",
            SLICES_BI_DATA_DIR=str(log_path.parent),
        )
        self.env.update(settings)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, timeout: float = 120) -> WorkerProcess:
        ready = Path(self.env["SLICES_BI_DATA_DIR"]) / "worker.ready"
        ready.unlink(missing_ok=True)
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "slices-bi"), "worker"],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not (ready.exists() and _deployments_ready()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker did not start; see {self.log_path}")
            time.sleep(0.2)
        return self

    def kill(self) -> None:
        """SIGKILL the worker's whole process group: no hook, no hand-back."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._close()

    def stop(self, timeout: float = 30) -> float:
        """SIGTERM, as systemd or `up` stops it; the seconds it took."""
        assert self.process is not None
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
                raise AssertionError("the worker did not stop on SIGTERM") from None
        self._close()
        return time.monotonic() - started

    def close(self) -> None:
        """Stop a running worker; for one killed and not started again, give back the
        concurrency slots its last life held, as its next life would (the tests' Prefect
        server is ephemeral: it runs no repossessor to end their leases)."""
        if self.process is not None and self.process.poll() is None:
            self.stop()
            return
        data_dir = Path(self.env["SLICES_BI_DATA_DIR"])
        SlotPool().record_leases_in(lease_record(data_dir, self.env["SLICES_BI_WORKER_NAME"]))

    def _close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")
