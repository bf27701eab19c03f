"""The /devcloud admin API, DevcloudServer, persistence, clouds.yaml and the CLI."""

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml
from openstack.compute.v2.server import Server
from openstack.connection import Connection

from slices_bi.devcloud.cli import build_parser, main
from slices_bi.devcloud.server import DevcloudServer

Boot = Callable[..., Server]
OPENSTACK = str(Path(sys.executable).parent / "openstack")


def test_counters_count_calls_per_route_template(
    dc: DevcloudServer, conn: Connection, boot: Boot
) -> None:
    list(conn.compute.flavors())
    dc.reset_counters()
    server = boot()
    conn.compute.wait_for_server(server, wait=5, interval=0.05)
    conn.compute.get_server(server.id)
    assert dc.counters() == {
        "POST /compute/v2.1/servers": 1,
        "GET /compute/v2.1/servers/{server_id}": 2,
    }
    httpx.get(f"{dc.url}/devcloud")  # admin calls are not counted
    dc.reset_counters()
    assert dc.counters() == {}


def test_reset_restores_seeded_state(dc: DevcloudServer, conn: Connection, boot: Boot) -> None:
    boot()
    conn.compute.create_keypair(name="k")
    conn.image.delete_image(conn.image.find_image("Debian 12.5"))
    dc.set_faults(latency={"image": 0.1})
    dc.set_boot_delay(5)
    dc.reset()
    assert list(conn.compute.servers()) == []
    assert list(conn.compute.keypairs()) == []
    assert conn.image.find_image("Debian 12.5") is not None
    assert dc.faults()["latency"]["image"] == 0
    assert dc.config()["boot_delay"] == 0


def test_seed_adds_images_and_flavors(dc: DevcloudServer, conn: Connection) -> None:
    assert dc.seed(images=10, flavors=3) == {"images": 10, "flavors": 3}
    assert len(list(conn.image.images())) == 13
    assert len(list(conn.compute.flavors())) == 7
    summary = dc.summary()
    assert summary["resources"]["images"] == 13
    assert "password" not in summary["identity"]


def test_state_file_round_trip(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with DevcloudServer(
        boot_delay=0, delete_delay=0, floating_ip_delay=0, state_file=state
    ) as first:
        conn = first.connect()
        net = conn.network.find_network("private")
        image = conn.image.find_image("Debian 12.5")
        conn.compute.create_keypair(name="k")
        server = conn.compute.create_server(
            name="keep", image_id=image.id, flavor_id="1", networks=[{"uuid": net.id}], tags=["x"]
        )
        (port,) = conn.network.ports(device_id=server.id)
        fip = conn.network.create_ip(
            floating_network_id=conn.network.find_network("public").id, port_id=port.id
        )
        conn.close()
    assert json.loads(state.read_text())["servers"][0]["name"] == "keep"
    with DevcloudServer(boot_delay=0, state_file=state) as second:
        conn = second.connect()
        again = conn.compute.get_server(server.id)
        assert (again.name, again.status, again.tags) == ("keep", "ACTIVE", ["x"])
        assert [a["addr"] for a in again.addresses["private"]] == [
            port.fixed_ips[0]["ip_address"],
            fip.floating_ip_address,
        ]
        assert conn.compute.get_keypair("k").name == "k"
        # the address index was rebuilt: a new server does not reuse the taken address
        other = conn.compute.create_server(
            name="new", image_id=image.id, flavor_id="1", networks=[{"uuid": net.id}]
        )
        (new_port,) = conn.network.ports(device_id=other.id)
        assert new_port.fixed_ips[0]["ip_address"] != port.fixed_ips[0]["ip_address"]
        conn.close()


def test_clouds_yaml_is_merged(dc: DevcloudServer, tmp_path: Path) -> None:
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": {"prod": {"auth": {"auth_url": "https://x"}}}}))
    assert dc.write_clouds_yaml(path, cloud_name="dev") == path
    clouds = yaml.safe_load(path.read_text())["clouds"]
    assert clouds["prod"] == {"auth": {"auth_url": "https://x"}}
    assert clouds["dev"]["auth"]["auth_url"] == dc.auth_url
    assert clouds["dev"]["auth"]["project_name"] == "demo"


def test_stop_really_stops() -> None:
    server = DevcloudServer(boot_delay=0).start()
    port = server.port
    assert httpx.get(f"{server.url}/devcloud").status_code == 200
    server.stop()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass


def test_openstack_cli_lists_servers_and_images(
    dc: DevcloudServer, boot: Boot, tmp_path: Path
) -> None:
    boot(name="cli-vm")
    path = dc.write_clouds_yaml(tmp_path / "clouds.yaml")
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(path), "OS_CLOUD": "devcloud"}
    for command, expected in (
        (["server", "list"], "cli-vm"),
        (["image", "list"], "Ubuntu 24.04.1"),
    ):
        result = subprocess.run(
            [OPENSTACK, *command, "-f", "json"], env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert expected in [row["Name"] for row in json.loads(result.stdout)]


def test_cli_arguments() -> None:
    args = build_parser().parse_args(
        [
            "--port",
            "9999",
            "--boot-delay",
            "1.5",
            "--clouds-yaml",
            "c.yaml",
            "--state-file",
            "s.json",
        ]
    )
    assert (args.port, args.boot_delay, args.clouds_yaml, args.state_file) == (
        9999,
        1.5,
        "c.yaml",
        "s.json",
    )
    assert main(["--faults", "{not json"]) == 2


def test_python_m_devcloud_serves(tmp_path: Path) -> None:
    clouds = tmp_path / "clouds.yaml"
    command = [
        sys.executable,
        "-m",
        "slices_bi.devcloud",
        "--port",
        "0",
        "--clouds-yaml",
        str(clouds),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        url = first_line.split()[3]
        assert httpx.get(f"{url}/devcloud", timeout=10).json()["config"]["boot_delay"] == 3.0
        entry = yaml.safe_load(clouds.read_text())["clouds"]["devcloud"]
        assert entry["auth"]["auth_url"] == f"{url}/identity/v3"
    finally:
        process.terminate()
        process.wait(timeout=15)
