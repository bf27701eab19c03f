"""The one place that opens OpenStack connections; credentials stay in clouds.yaml / OS_CLOUD."""

from __future__ import annotations

import threading

import openstack
from openstack.connection import Connection

from slices_bi.settings import Settings, get_settings

_connections: dict[tuple[str | None, str | None], Connection] = {}
_lock = threading.Lock()


def connect(settings: Settings | None = None) -> Connection:
    """A connection to the configured cloud (`cloud` setting, else OS_CLOUD), reused per process.

    openstacksdk connections are thread-safe for API calls and keep their Keystone token,
    so one per process saves an authentication round trip on every flow task.
    """
    resolved = settings or get_settings()
    key = (resolved.cloud, resolved.region)
    with _lock:
        conn = _connections.get(key)
        if conn is None:
            conn = openstack.connect(cloud=resolved.cloud, region_name=resolved.region)
            _connections[key] = conn
        return conn


def close_connections() -> None:
    """Forget every cached connection (tests that restart the cloud, process shutdown)."""
    with _lock:
        for conn in _connections.values():
            conn.close()
        _connections.clear()
