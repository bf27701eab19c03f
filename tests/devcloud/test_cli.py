"""`slices-bi devcloud` run alone: the port and clouds.yaml of `up`, never ~/.config/openstack."""

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from slices_bi.devcloud.cli import build_parser
from slices_bi.devcloud.server import bind_socket
from slices_bi.settings import get_settings

BIN = Path(sys.executable).parent


def test_defaults_are_those_of_up() -> None:
    args = build_parser().parse_args([])
    settings = get_settings()
    assert args.port == settings.devcloud_port == 8780
    assert Path(args.clouds_yaml) == settings.data_dir / "clouds.yaml"
    assert args.boot_delay == settings.devcloud_boot_delay_seconds


def test_alone_it_writes_the_data_dirs_clouds_yaml_and_says_how_to_use_it(
    tmp_path: Path,
) -> None:
    home, data_dir = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    with bind_socket("127.0.0.1", 0) as probe:
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "HOME": str(home),
        "SLICES_BI_DATA_DIR": str(data_dir),
        "SLICES_BI_DEVCLOUD_PORT": str(port),
    }
    env.pop("OS_CLIENT_CONFIG_FILE", None)
    process = subprocess.Popen(
        [str(BIN / "slices-bi"), "devcloud", "--log-level", "warning"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        assert lines[0].startswith(f"devcloud listening on http://127.0.0.1:{port} ")
        assert httpx.get(f"http://127.0.0.1:{port}/devcloud", timeout=10).status_code == 200
        clouds = data_dir / "clouds.yaml"
        entry = yaml.safe_load(clouds.read_text())["clouds"]["devcloud"]
        assert entry["auth"]["auth_url"] == f"http://127.0.0.1:{port}/identity/v3"
        assert not (home / ".config").exists()

        # The printed hint, run as printed.
        hint = lines[2].strip()
        assert hint == (
            f"use it: OS_CLIENT_CONFIG_FILE={clouds} openstack --os-cloud devcloud server list"
        )
        assignment, *command = hint.removeprefix("use it: ").split()
        variable, value = assignment.split("=", 1)
        result = subprocess.run(
            [str(BIN / command[0]), *command[1:], "-f", "json"],
            env={**env, variable: value},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == []
    finally:
        process.terminate()
        process.wait(timeout=15)
