"""Servers survive a restart of the devcloud CLI when it has a state file: the state is
saved shortly after each change (debounced) and on a clean stop (SIGTERM, SIGINT)."""

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openstack
import pytest
import yaml
from openstack.connection import Connection

from .helpers import poll


class CliDevcloud:
    """``python -m slices_bi.devcloud --state-file ...`` as a child process."""

    def __init__(self, state: Path, clouds: Path) -> None:
        command = [
            sys.executable,
            "-m",
            "slices_bi.devcloud",
            "--port",
            "0",
            "--boot-delay",
            "0",
            "--state-file",
            str(state),
            "--clouds-yaml",
            str(clouds),
            "--log-level",
            "warning",
        ]
        self.clouds = clouds
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().split()[3]

    def connect(self) -> Connection:
        """An SDK connection from the clouds.yaml entry the CLI wrote."""
        entry = yaml.safe_load(self.clouds.read_text())["clouds"]["devcloud"]
        return openstack.connect(load_yaml_config=False, load_envvars=False, **entry)

    def stop(self, signum: int) -> int:
        """Send ``signum`` and wait for the exit; returns the exit code."""
        self.process.send_signal(signum)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


@pytest.fixture
def started() -> Iterator[list[CliDevcloud]]:
    """Processes started by a test; killed at the end if still running."""
    processes: list[CliDevcloud] = []
    yield processes
    for process in processes:
        process.kill()


def _start(started: list[CliDevcloud], tmp_path: Path) -> CliDevcloud:
    cli = CliDevcloud(tmp_path / "state.json", tmp_path / "clouds.yaml")
    started.append(cli)
    return cli


def _boot(conn: Connection, name: str) -> Any:
    net = conn.network.find_network("private", ignore_missing=False)
    image = conn.image.find_image("Debian 12.5", ignore_missing=False)
    return conn.compute.create_server(
        name=name, image_id=image.id, flavor_id="1", networks=[{"uuid": net.id}]
    )


def _seen(conn: Connection, server_id: str) -> tuple[str, str, Any]:
    server = conn.compute.get_server(server_id)
    return server.name, server.status, server.addresses


def _saved_server_ids(state: Path) -> list[str]:
    if not state.exists():
        return []
    return [s["id"] for s in json.loads(state.read_text())["servers"]]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_server_made_just_before_a_stop_is_there_after_the_restart(
    tmp_path: Path, started: list[CliDevcloud], signum: int
) -> None:
    state = tmp_path / "state.json"
    first = _start(started, tmp_path)
    httpx.put(f"{first.url}/devcloud/config", json={"save_delay": 3600}).raise_for_status()
    conn = first.connect()
    server = _boot(conn, "keep")
    fip = conn.network.create_ip(
        floating_network_id=conn.network.find_network("public", ignore_missing=False).id,
        port_id=next(iter(conn.network.ports(device_id=server.id))).id,
    )
    assert poll(lambda: len(_seen(conn, server.id)[2]["private"]) == 2)  # fixed + floating
    before = _seen(conn, server.id)
    assert before[1] == "ACTIVE"
    conn.close()
    assert _saved_server_ids(state) == []  # the debounced save is an hour away
    first.stop(signum)
    assert _saved_server_ids(state) == [server.id]  # written by the clean stop

    second = _start(started, tmp_path)
    conn = second.connect()
    try:
        assert _seen(conn, server.id) == before
        assert [s.id for s in conn.compute.servers()] == [server.id]
        assert conn.network.get_ip(fip.id).port_id is not None
    finally:
        conn.close()
    assert second.stop(signal.SIGTERM) in (0, -signal.SIGTERM)


def test_changes_are_saved_shortly_while_running(
    tmp_path: Path, started: list[CliDevcloud]
) -> None:
    state = tmp_path / "state.json"
    cli = _start(started, tmp_path)
    conn = cli.connect()
    try:
        server = _boot(conn, "saved")
        assert poll(lambda: _saved_server_ids(state) == [server.id])
        conn.compute.delete_server(server)

        def delete_saved() -> bool:
            (saved,) = json.loads(state.read_text())["servers"]
            return saved["deleted_at"] is not None  # completed by time, also after a restart

        assert poll(delete_saved)
    finally:
        conn.close()
