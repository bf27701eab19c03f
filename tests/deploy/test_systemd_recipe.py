"""The production recipe of deploy/systemd, started as written.

Each unit's ExecStart runs with the environment its Environment=/EnvironmentFile= lines give
(the example env file with devcloud, the test catalog and free ports swapped in), in the
order systemd would start them; the API must answer; then each is stopped, in reverse, with
the KillSignal its unit names and must end cleanly, leaving no process behind.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from dotenv import dotenv_values

from tests.deploy.systemd_units import SYSTEMD, Unit, read_unit

INSTALLED_BIN = "/opt/slices-bi/.venv/bin/"
ENV_FILE = "/etc/slices-bi/slices-bi.env"
STATE_DIR = "/var/lib/slices-bi"
UNITS = ["prefect-server", "slices-bi-worker", "slices-bi-api"]  # start order
COMMANDS = {
    "prefect-server": ["prefect", "server", "start"],
    "slices-bi-worker": ["slices-bi", "worker"],
    "slices-bi-api": ["slices-bi", "api"],
}
API_PREFIX = "/apis/bi.slices.eu/v1alpha2"
# What systemd counts as a clean end besides exit status 0 (systemd.service, SuccessExitStatus=).
CLEAN_SIGNALS = {signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE}
# The last words of each program when it stops gracefully.
GRACEFUL_STOP = {
    "prefect-server": "Server stopped!",
    "slices-bi-worker": "stopping, handing back the runs in flight",
    "slices-bi-api": "Application shutdown complete.",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _poll(what: str, check: Callable[[], bool], timeout: float, alive: Callable[[], None]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive()
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{what} within {timeout:.0f} s")


@pytest.mark.parametrize("name", UNITS)
def test_units_run_the_projects_commands_as_an_unprivileged_user(name: str) -> None:
    unit = read_unit(name)
    service = unit.sections["Service"]
    assert unit.value("Service", "User") not in (None, "root")
    assert unit.value("Service", "Restart") == "on-failure"
    assert unit.values("Service", "EnvironmentFile") == [ENV_FILE]
    assert unit.value("Service", "WorkingDirectory") == STATE_DIR
    assert "KillSignal" in service
    assert "TimeoutStopSec" in service
    argv = unit.exec_start({})
    assert argv[0].startswith(INSTALLED_BIN)
    assert [Path(argv[0]).name, *argv[1:]] == COMMANDS[name]
    example = dotenv_values(SYSTEMD / "slices-bi.env.example", interpolate=False)
    assert example["SLICES_BI_DATA_DIR"] == STATE_DIR
    assert example["SLICES_BI_DEV_ISSUER"] == "false"


def test_the_env_file_reads_the_same_in_a_shell() -> None:
    """Operators source it to run commands by hand: the shell must see what systemd sees."""
    example = SYSTEMD / "slices-bi.env.example"
    shell = subprocess.run(
        ["sh", "-c", 'set -a; . "$0"; exec env -0', str(example)],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    seen = dict(item.partition("=")[::2] for item in shell.split("\0") if item)
    expected = dotenv_values(example, interpolate=False)
    assert {key: seen.get(key) for key in expected} == expected
    assert json.loads(expected["SLICES_BI_TOKEN_ISSUERS"] or "") == [
        "https://account.ilabt.imec.be"
    ]


@dataclass
class Service:
    unit: Unit
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> None:
        if self.process.poll() is not None:
            pytest.fail(f"{self.unit.name} exited with {self.process.returncode}: {self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> int:
        """What systemd does on `stop`: KillSignal to the main process (KillMode=mixed) or
        to every process of the unit, then wait up to TimeoutStopSec."""
        if self.unit.value("Service", "KillMode") == "mixed":
            self.process.send_signal(self.unit.kill_signal)
        else:
            os.killpg(self.process.pid, self.unit.kill_signal)
        return self.process.wait(timeout=self.unit.stop_timeout)

    def leftovers(self) -> bool:
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        if self.leftovers():
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait(timeout=10)


@pytest.fixture
def env_file(tmp_path: Path, db: str, devcloud: object) -> Path:
    """The example env file with this machine's test parts in place of the site's."""
    api, prefect = _free_port(), _free_port()
    state = tmp_path / "state"
    state.mkdir()
    values = dotenv_values(SYSTEMD / "slices-bi.env.example", interpolate=False)
    overrides: dict[str, str] = {
        "SLICES_BI_DATA_DIR": str(state),
        "SLICES_BI_PUBLIC_URL": f"http://127.0.0.1:{api}",
        "SLICES_BI_DATABASE_URL": db,
        "OS_CLIENT_CONFIG_FILE": os.environ["OS_CLIENT_CONFIG_FILE"],
        "SLICES_BI_CLOUD": "devcloud",
        "SLICES_BI_DEFAULT_NETWORK": "private",
        "SLICES_BI_OIDC_DISCOVERY_URL": "",  # no network here: the dev issuer signs instead
        "SLICES_BI_DEV_ISSUER": "true",
        "SLICES_BI_API_PORT": str(api),
        "PREFECT_HOME": str(state / "prefect"),
        "PREFECT_SERVER_API_PORT": str(prefect),
        "PREFECT_API_URL": f"http://127.0.0.1:{prefect}/api",
        "SLICES_BI_PREFECT_API_URL": f"http://127.0.0.1:{prefect}/api",
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{state / 'prefect.db'}",
    }
    assert set(overrides) <= set(values), "the example env file lacks a setting the test swaps"
    # The example, line for line, with the swapped values in place.
    lines = []
    for line in (SYSTEMD / "slices-bi.env.example").read_text().splitlines():
        key = line.partition("=")[0]
        lines.append(f"{key}={overrides[key]}" if key in overrides else line)
    path = tmp_path / "slices-bi.env"
    path.write_text("\n".join(lines) + "\n")
    return path


def _start(name: str, env_file: Path, tmp_path: Path) -> tuple[Service, dict[str, str]]:
    unit = read_unit(name)
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "HOME": str(tmp_path)}
    env.update(unit.environment({ENV_FILE: env_file}))
    argv = unit.exec_start(env)
    argv[0] = str(Path(sys.executable).parent / argv[0].removeprefix(INSTALLED_BIN))
    log = tmp_path / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            env=env,
            cwd=env["SLICES_BI_DATA_DIR"],  # WorkingDirectory, the state directory
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group stands in for the unit's cgroup
        )
    return Service(unit, process, log), env


@pytest.fixture
def services() -> Iterator[list[Service]]:
    """The services the test starts; whatever is still running at the end is killed."""
    started: list[Service] = []
    try:
        yield started
    finally:
        for service in reversed(started):
            service.kill()


@pytest.mark.slow
def test_the_recipe_starts_serves_and_stops_cleanly(
    env_file: Path, tmp_path: Path, services: list[Service]
) -> None:
    prefect, env = _start("prefect-server", env_file, tmp_path)
    services.append(prefect)
    _poll(
        "the Prefect server did not answer",
        lambda: httpx.get(f"{env['PREFECT_API_URL']}/health", timeout=5).status_code == 200,
        180,
        prefect.alive,
    )

    worker, env = _start("slices-bi-worker", env_file, tmp_path)
    services.append(worker)
    deployment = f"{env['PREFECT_API_URL']}/deployments/name/catalog-sync/catalog-sync"
    _poll(
        "the worker did not register its deployments",
        lambda: httpx.get(deployment, timeout=5).status_code == 200,
        120,
        worker.alive,
    )

    api, env = _start("slices-bi-api", env_file, tmp_path)
    services.append(api)
    base = f"http://127.0.0.1:{env['SLICES_BI_API_PORT']}"
    _poll(
        "the API did not answer /healthz",
        lambda: httpx.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"},
        60,
        api.alive,
    )

    # A catalog read, after a catalog-sync run that the worker executes: an operator's
    # shell with the env file loaded starts it, as the README says.
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [str(bin_dir / "prefect"), "deployment", "run", "catalog-sync/catalog-sync"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    token = subprocess.run(
        [str(bin_dir / "slices-bi"), "token", "user"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    flavors_url = f"{base}{API_PREFIX}/flavors"
    headers = {"Authorization": f"Bearer {token}"}
    _poll(
        "the catalog did not fill from devcloud",
        lambda: httpx.get(flavors_url, headers=headers, timeout=5).json().get("count") == 4,
        180,
        lambda: [service.alive() for service in services] and None,
    )

    for service in reversed(services):
        code = service.stop()
        clean = code == 0 or (code < 0 and signal.Signals(-code) in CLEAN_SIGNALS)
        assert clean, f"{service.unit.name} ended with {code}: {service.tail()}"
        # Dying of the signal is clean to systemd too; the log shows the stop was graceful.
        graceful = GRACEFUL_STOP[service.unit.name] in service.tail()
        assert graceful, f"{service.unit.name} did not stop gracefully: {service.tail()}"
        deadline = time.monotonic() + 10
        while service.leftovers() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not service.leftovers(), f"{service.unit.name} left processes behind"
