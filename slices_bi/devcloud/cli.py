"""``slices-bi devcloud`` / ``python -m slices_bi.devcloud``: run a devcloud in
the foreground until interrupted.

Alone it behaves as under ``slices-bi up``: the port is ``SLICES_BI_DEVCLOUD_PORT`` (8780)
and the clouds.yaml is ``<SLICES_BI_DATA_DIR>/clouds.yaml`` (``data/clouds.yaml``); it never
writes into the operator's own ``~/.config/openstack/clouds.yaml`` unless told to."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import uvicorn

from slices_bi.devcloud.app import create_app
from slices_bi.devcloud.clouds import cloud_entry, write_clouds_yaml
from slices_bi.devcloud.faults import Faults
from slices_bi.devcloud.runtime import Devcloud, DevcloudConfig
from slices_bi.devcloud.server import bind_socket
from slices_bi.settings import get_settings


def default_clouds_yaml() -> Path:
    """The clouds.yaml that `slices-bi up` uses too: in the data directory."""
    return get_settings().data_dir / "clouds.yaml"


def run_devcloud(
    host: str = "127.0.0.1",
    port: int = 0,
    boot_delay: float = 3.0,
    delete_delay: float = 0.5,
    state_file: str | os.PathLike[str] | None = None,
    clouds_yaml: str | os.PathLike[str] | None = None,
    cloud_name: str = "devcloud",
    faults: dict[str, Any] | None = None,
    log_level: str = "info",
) -> None:
    """Serve a devcloud on ``host:port`` until SIGINT/SIGTERM (blocking).

    Writes/merges the ``cloud_name`` entry into ``clouds_yaml`` (None: don't),
    loads/saves ``state_file`` if given, and starts with ``faults`` applied.
    """
    fault_settings = Faults()
    if faults:
        fault_settings.update(faults)
    dc = Devcloud(
        DevcloudConfig(boot_delay=boot_delay, delete_delay=delete_delay),
        faults=fault_settings,
        state_file=state_file,
    )
    sock = bind_socket(host, port)
    bound = sock.getsockname()[1]
    url = f"http://{host}:{bound}"
    lines = [f"devcloud listening on {url} (admin API: {url}/devcloud)"]
    if clouds_yaml is not None:
        written = write_clouds_yaml(
            clouds_yaml, cloud_name, cloud_entry(f"{url}/identity/v3", dc.identity)
        ).resolve()
        lines.append(f"clouds.yaml: cloud {cloud_name!r} written to {written}")
        lines.append(
            f"use it: OS_CLIENT_CONFIG_FILE={written} openstack --os-cloud {cloud_name} server list"
        )
    if state_file is not None:
        lines.append(f"state file: {state_file}")
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    config = uvicorn.Config(
        create_app(dc),
        log_level=log_level,
        access_log=log_level == "debug",
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()


def build_parser() -> argparse.ArgumentParser:
    settings = get_settings()
    parser = argparse.ArgumentParser(
        prog="slices-bi devcloud",
        description=(
            "Run devcloud alone: a local OpenStack-compatible cloud (Keystone v3, Nova, Glance, "
            "Neutron) for trying slices-bi and the openstack CLI without a real cloud. It "
            "writes its cloud entry into a clouds.yaml and serves until Ctrl-C."
        ),
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=settings.devcloud_port,
        help="port; the default is SLICES_BI_DEVCLOUD_PORT, as under `up` "
        "(default: %(default)s; 0 = any free port)",
    )
    parser.add_argument(
        "--boot-delay",
        type=float,
        default=settings.devcloud_boot_delay_seconds,
        help="seconds a new server stays in BUILD before ACTIVE (default: %(default)s)",
    )
    parser.add_argument(
        "--delete-delay",
        type=float,
        default=0.5,
        help="seconds until a deleted server is gone (default: %(default)s)",
    )
    parser.add_argument(
        "--clouds-yaml",
        default=str(default_clouds_yaml()),
        help="clouds.yaml to write the cloud entry into, keeping its other clouds; the default "
        "is the data directory's, the one `up` uses (default: %(default)s)",
    )
    parser.add_argument("--no-clouds-yaml", action="store_true", help="do not write a clouds.yaml")
    parser.add_argument(
        "--cloud-name", default="devcloud", help="cloud name in clouds.yaml (default: %(default)s)"
    )
    parser.add_argument(
        "--state-file",
        default=None,
        help="JSON file to load the cloud's state from and save it to (default: memory only)",
    )
    parser.add_argument(
        "--faults",
        default=None,
        help='initial fault settings as JSON, e.g. \'{"error_rate": {"compute": 0.1}}\'',
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="log level; debug also logs every request (default: %(default)s)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the devcloud; returns the process exit code."""
    args = build_parser().parse_args(argv)
    faults = None
    if args.faults:
        try:
            faults = json.loads(args.faults)
            Faults().update(faults)
        except ValueError as exc:
            sys.stderr.write(f"invalid --faults: {exc}\n")
            return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        run_devcloud(
            host=args.host,
            port=args.port,
            boot_delay=args.boot_delay,
            delete_delay=args.delete_delay,
            state_file=args.state_file,
            clouds_yaml=None if args.no_clouds_yaml else args.clouds_yaml,
            cloud_name=args.cloud_name,
            faults=faults,
            log_level=args.log_level,
        )
    except OSError as exc:
        sys.stderr.write(f"devcloud: {exc}\n")
        return 1
    return 0
