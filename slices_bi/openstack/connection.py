"""The one place that opens OpenStack connections; credentials stay in clouds.yaml / OS_CLOUD."""

from __future__ import annotations

import threading

import openstack
from openstack.config.loader import OpenStackConfig
from openstack.connection import Connection

from slices_bi.openstack.call_hook import instrument
from slices_bi.settings import Settings, get_settings

_connections: dict[tuple[str | None, str | None, tuple[str, ...]], Connection] = {}
_lock = threading.Lock()


def connect(settings: Settings | None = None) -> Connection:
    """A connection to the configured cloud (`cloud` setting, else OS_CLOUD), reused per process.

    The cloud's entry comes from `clouds_yaml` when that is set, else from the places
    openstacksdk looks in (OS_CLIENT_CONFIG_FILE, ./clouds.yaml, ~/.config/openstack/).

    openstacksdk connections are thread-safe for API calls and keep their Keystone token,
    so one per process saves an authentication round trip on every flow task.
    """
    resolved = settings or get_settings()
    files = (str(resolved.clouds_yaml),) if resolved.clouds_yaml else ()
    key = (resolved.cloud, resolved.region, files)
    with _lock:
        conn = _connections.get(key)
        if conn is None:
            if files:  # an explicit clouds.yaml (`up` writes one for devcloud)
                # That file only: OS_CLIENT_CONFIG_FILE would otherwise take precedence.
                region = OpenStackConfig(config_files=list(files), load_envvars=False).get_one(
                    cloud=resolved.cloud, region_name=resolved.region
                )
                conn = Connection(config=region)
            else:
                conn = openstack.connect(cloud=resolved.cloud, region_name=resolved.region)
            _connections[key] = instrument(conn)
        return conn


def close_connections() -> None:
    """Forget every cached connection (tests that restart the cloud, process shutdown)."""
    with _lock:
        for conn in _connections.values():
            conn.close()
        _connections.clear()
