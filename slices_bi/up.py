"""`slices-bi up`: the whole stack on one machine.

Order: devcloud (when no cloud is configured; its state kept in the data directory), the
Prefect server with its UI, the catalog migrations and a first catalog sync (a flow run),
the worker, then the API. Ctrl-C (or SIGTERM) stops them in reverse order (see
`slices_bi.stack`). A second `up` on the same data directory or ports refuses at once.

`up` leaves a `.env` in its working directory (when there is none of the user's own) so
that every other command of the README works from a plain shell: `slices-bi token`,
`slices-bi catalog sync`, `slices-bi cleanup`, `slices-bi status` and `prefect ...`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from slices_bi.settings import Settings
from slices_bi.stack import Stack, StackError, check_ports_free, single_instance

ENV_MARKER = "# Written by `slices-bi up`"
# Prefect server settings for a SQLite-backed server under bursts of runs (see README,
# Architecture): task runs and events are written in batches, and concurrency leases are
# kept on disk, so a restart of the server does not leave a slot taken for good.
PREFECT_SERVER_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": (
        "prefect.server.concurrency.lease_storage.filesystem"
    ),
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_READ_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "1",
}


def _interrupt(*_: object) -> None:
    # SIGTERM stops the stack the way Ctrl-C does.
    raise KeyboardInterrupt


def _issuer_configured(settings: Settings) -> bool:
    return bool(settings.jwks_url or settings.jwks_file or settings.oidc_discovery_url)


def is_own_env_file(path: Path) -> bool:
    """True when the `.env` at `path` was written by `up` (not the user's own)."""
    if not path.exists():
        return False
    return path.read_text(errors="replace").startswith(ENV_MARKER)


def write_env_file(path: Path, values: dict[str, str]) -> bool:
    """Write `values` to the `.env` at `path` unless it is the user's own; True if written."""
    if path.exists() and not is_own_env_file(path):
        return False
    lines = [ENV_MARKER + ": what other shells need to reach this stack.", ""]
    lines += [f"{key}={value}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return True


def run_stack(settings: Settings) -> int:
    """Start everything, print where to go, and wait for Ctrl-C; the exit code."""
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with single_instance(settings.data_dir):
            return _run(settings)
    except StackError as exc:
        print(f"slices-bi up: {exc}", file=sys.stderr)
        return 2


def _run(settings: Settings) -> int:
    data = settings.data_dir.resolve()
    prefect = urlsplit(settings.prefect_api_url)
    prefect_host, prefect_port = prefect.hostname or "127.0.0.1", prefect.port or 4200
    real_cloud = bool(settings.cloud or os.environ.get("OS_CLOUD"))
    ports = {"api": (settings.api_host, settings.api_port), "prefect": (prefect_host, prefect_port)}
    if not real_cloud:
        ports["devcloud"] = ("127.0.0.1", settings.devcloud_port)
    check_ports_free(ports)

    env = dict(os.environ)
    env.update(PREFECT_SERVER_ENV)
    env.setdefault("PREFECT_HOME", str(data / "prefect"))
    env["PREFECT_API_URL"] = settings.prefect_api_url
    env["SLICES_BI_DATA_DIR"] = str(data)
    shared = {"PREFECT_API_URL": settings.prefect_api_url, "SLICES_BI_DATA_DIR": str(data)}
    if not _issuer_configured(settings):
        if real_cloud and not settings.dev_issuer:
            raise StackError(
                "a real cloud is configured but no SLICES token issuer: set "
                "SLICES_BI_OIDC_DISCOVERY_URL (or SLICES_BI_JWKS_URL), or "
                "SLICES_BI_DEV_ISSUER=true to accept tokens minted on this machine "
                "(never on a public site)"
            )
        env["SLICES_BI_DEV_ISSUER"] = shared["SLICES_BI_DEV_ISSUER"] = "true"
        loud = "  ** real cloud: anyone who can run `slices-bi token` here can use it **"
        print("No token issuer configured: the dev issuer is on (`slices-bi token`).")
        if real_cloud:
            print(loud)
    cli = [str(Path(sys.executable).parent / "slices-bi")]
    stack = Stack(log_dir=data / "logs", env=env)
    print("Starting slices-bi:")
    try:
        if not real_cloud:
            clouds = data / "clouds.yaml"
            env.update(SLICES_BI_CLOUD="devcloud", SLICES_BI_CLOUDS_YAML=str(clouds))
            shared.update(SLICES_BI_CLOUD="devcloud", SLICES_BI_CLOUDS_YAML=str(clouds))
            port = str(settings.devcloud_port)
            boot = str(settings.devcloud_boot_delay_seconds)
            state = str(data / "devcloud-state.json")
            args = ["--port", port, "--clouds-yaml", str(clouds), "--boot-delay", boot]
            stack.start("devcloud", [*cli, "devcloud", *args, "--state-file", state])
            stack.wait_http("devcloud", f"http://127.0.0.1:{port}/devcloud", 60)
        prefect_args = ["prefect-server", "--host", prefect_host, "--port", str(prefect_port)]
        stack.start("prefect-server", [*cli, *prefect_args])
        stack.wait_http("prefect-server", f"{settings.prefect_api_url}/health", 180)
        if write_env_file(Path(".env"), shared):
            print(f"  .env           {Path('.env').resolve()} (for other shells)")
        else:
            lines = " ".join(f"{k}={v}" for k, v in shared.items())
            print(f"  .env exists and is yours: add {lines}")
        subprocess.run([*cli, "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*cli, "catalog", "sync"], env=env, check=False)
        ready = data / "worker.ready"
        ready.unlink(missing_ok=True)
        stack.start("worker", [*cli, "worker"])
        stack.start("api", [*cli, "api"])
        api_url = f"http://{settings.api_host}:{settings.api_port}"
        stack.wait_http("api", f"{api_url}/healthz", 60)
        stack.wait_file("worker", ready, 120)
        ui_url = settings.prefect_api_url.removesuffix("/api")
        print(f"\nslices-bi is up.\n  API       {api_url}/docs\n  Prefect   {ui_url}")
        print("  Stop with Ctrl-C.")
        while not (dead := stack.dead()):
            stack.note_descendants()
            time.sleep(1)
        print(f"{', '.join(dead)} stopped unexpectedly; stopping the rest (see {data / 'logs'}).")
        return 1
    except KeyboardInterrupt:
        print("\nStopping slices-bi...")
        return 0
    except (StackError, subprocess.CalledProcessError) as exc:
        print(f"slices-bi up: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the stop is bounded: let it finish
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        started = time.monotonic()
        killed = stack.stop()
        took = time.monotonic() - started
        if killed:
            print(f"Stopped in {took:.1f} s; had to kill: {', '.join(killed)}.")
        else:
            print(f"Stopped in {took:.1f} s.")
