"""``slices-bi devcloud`` / ``python -m slices_bi.devcloud``: run a devcloud in
the foreground until interrupted."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

import uvicorn

from slices_bi.devcloud.app import create_app
from slices_bi.devcloud.clouds import cloud_entry, write_clouds_yaml
from slices_bi.devcloud.faults import Faults
from slices_bi.devcloud.runtime import Devcloud, DevcloudConfig
from slices_bi.devcloud.server import bind_socket

DEFAULT_PORT = 8770
DEFAULT_CLOUDS_YAML = "~/.config/openstack/clouds.yaml"


def run_devcloud(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    boot_delay: float = 3.0,
    delete_delay: float = 0.5,
    state_file: str | os.PathLike[str] | None = None,
    clouds_yaml: str | os.PathLike[str] | None = DEFAULT_CLOUDS_YAML,
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
        )
        lines.append(f"clouds.yaml: cloud {cloud_name!r} written to {written}")
        lines.append(
            f"try: OS_CLIENT_CONFIG_FILE={written} OS_CLOUD={cloud_name} openstack server list"
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
    parser = argparse.ArgumentParser(
        prog="slices-bi devcloud",
        description="Run a local OpenStack-compatible cloud (Keystone, Nova, Glance, Neutron).",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port (default: %(default)s; 0 = any)"
    )
    parser.add_argument(
        "--boot-delay", type=float, default=3.0, help="seconds in BUILD before ACTIVE"
    )
    parser.add_argument(
        "--delete-delay", type=float, default=0.5, help="seconds until a deleted server is gone"
    )
    parser.add_argument(
        "--clouds-yaml",
        default=DEFAULT_CLOUDS_YAML,
        help="clouds.yaml to write/merge the cloud entry into (default: %(default)s)",
    )
    parser.add_argument("--no-clouds-yaml", action="store_true", help="do not write a clouds.yaml")
    parser.add_argument("--cloud-name", default="devcloud", help="cloud name in clouds.yaml")
    parser.add_argument(
        "--state-file", default=None, help="JSON file to load state from and save it to"
    )
    parser.add_argument(
        "--faults",
        default=None,
        help='initial fault settings as JSON, e.g. \'{"error_rate": {"compute": 0.1}}\'',
    )
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
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
