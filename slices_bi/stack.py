"""`slices-bi up`: the whole stack on one machine, each part a child process stopped by PID.

Order: devcloud (when no cloud is configured), the Prefect server with its UI, the catalog
migrations and a first catalog sync, the worker, then the API. Ctrl-C stops them in
reverse order.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from slices_bi.settings import Settings

logger = logging.getLogger(__name__)


class Stack:
    """The child processes of `up`, started in order and stopped in reverse."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.env = dict(os.environ)
        self.bin_dir = Path(sys.executable).parent

    def start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log_path = self.settings.data_dir / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            process = subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.children.append((name, process))
        print(f"  {name:<14} pid {process.pid:<7} log {log_path}")
        return process

    def stop(self) -> None:
        for _name, process in reversed(self.children):
            if process.poll() is None:
                # SIGTERM, not SIGINT: a child of a background job inherits SIGINT ignored.
                process.terminate()
        deadline = time.monotonic() + 20
        for name, process in reversed(self.children):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("%s (pid %s) did not stop; killing it", name, process.pid)
                process.kill()
                process.wait()
        self.children.clear()

    def wait_http(self, name: str, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for child_name, process in self.children:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"{child_name} exited with {process.returncode}; see its log"
                    )
            try:
                if httpx.get(url, timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{name} did not answer at {url} within {timeout:.0f} s")


def _interrupt(*_: object) -> None:
    # SIGTERM stops the stack the way Ctrl-C does.
    raise KeyboardInterrupt


def run_stack(settings: Settings) -> int:
    """Start everything, print where to go, and wait for Ctrl-C."""
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    # Explicit handlers: started in the background, SIGINT may arrive ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(settings)
    env = stack.env
    env.setdefault("PREFECT_HOME", str((settings.data_dir / "prefect").resolve()))
    env["PREFECT_API_URL"] = settings.prefect_api_url
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "1")
    env["SLICES_BI_DATA_DIR"] = str(settings.data_dir.resolve())
    if not (settings.jwks_url or settings.jwks_file or settings.oidc_discovery_url):
        env["SLICES_BI_DEV_ISSUER"] = "true"
        print("No JWKS configured: the dev issuer is on (mint tokens with `slices-bi token`).")
    cli = [str(stack.bin_dir / "slices-bi")]
    prefect = urlsplit(settings.prefect_api_url)
    print("Starting slices-bi:")
    try:
        if not (settings.cloud or os.environ.get("OS_CLOUD")):
            clouds = str((settings.data_dir / "clouds.yaml").resolve())
            env.update(OS_CLIENT_CONFIG_FILE=clouds, SLICES_BI_CLOUD="devcloud")
            port = str(settings.devcloud_port)
            boot = str(settings.devcloud_boot_delay_seconds)
            devcloud_args = ["--port", port, "--boot-delay", boot, "--clouds-yaml", clouds]
            stack.start("devcloud", [*cli, "devcloud", *devcloud_args])
            stack.wait_http("devcloud", f"http://127.0.0.1:{port}/devcloud", 60)
        host, port = prefect.hostname or "127.0.0.1", str(prefect.port or 4200)
        prefect_args = ["server", "start", "--host", host, "--port", port]
        stack.start("prefect-server", [str(stack.bin_dir / "prefect"), *prefect_args])
        stack.wait_http("prefect-server", f"{settings.prefect_api_url}/health", 180)
        subprocess.run([*cli, "db", "upgrade"], env=env, check=True)
        subprocess.run([*cli, "catalog", "sync"], env=env, check=False)
        stack.start("worker", [*cli, "worker"])
        stack.start("api", [*cli, "api"])
        api_url = f"http://{settings.api_host}:{settings.api_port}"
        stack.wait_http("api", f"{api_url}/healthz", 60)
        ui_url = settings.prefect_api_url.removesuffix("/api")
        print(f"\nslices-bi is up.\n  API       {api_url}/docs\n  Prefect   {ui_url}")
        print("  Stop with Ctrl-C.")
        while all(process.poll() is None for _, process in stack.children):
            time.sleep(1)
        dead = [name for name, process in stack.children if process.poll() is not None]
        print(f"{', '.join(dead)} stopped unexpectedly; stopping the rest (see data/logs).")
        return 1
    except KeyboardInterrupt:
        print("\nStopping slices-bi...")
        return 0
    finally:
        stack.stop()
