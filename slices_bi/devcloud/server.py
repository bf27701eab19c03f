"""Run a devcloud in a background thread, for tests, benchmarks and demos.

with DevcloudServer(boot_delay=0.0) as dc:
    conn = dc.connect()
    dc.set_faults(error_count={"compute": 1})
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx
import uvicorn

from slices_bi.devcloud.app import create_app
from slices_bi.devcloud.clouds import cloud_entry, write_clouds_yaml
from slices_bi.devcloud.faults import Faults
from slices_bi.devcloud.models import Identity
from slices_bi.devcloud.runtime import Devcloud, DevcloudConfig

if TYPE_CHECKING:
    from openstack.connection import Connection

_START_TIMEOUT = 15.0


def bind_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket (port 0 picks a free port).

    Listening right away means clients that connect before uvicorn has started
    wait in the backlog instead of being refused.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


class DevcloudServer:
    """A devcloud served by uvicorn on a background thread of this process."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        boot_delay: float = 3.0,
        delete_delay: float = 0.5,
        deleted_visible: float = 1.0,
        floating_ip_delay: float = 1.0,
        state_file: str | os.PathLike[str] | None = None,
        faults: dict[str, Any] | None = None,
        identity: Identity | None = None,
        log_level: str = "warning",
    ) -> None:
        fault_settings = Faults()
        if faults:
            fault_settings.update(faults)
        self.devcloud = Devcloud(
            DevcloudConfig(
                boot_delay=boot_delay,
                delete_delay=delete_delay,
                deleted_visible=deleted_visible,
                floating_ip_delay=floating_ip_delay,
            ),
            identity=identity,
            faults=fault_settings,
            state_file=state_file,
        )
        self.host = host
        self._port = port
        self._log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._client: httpx.Client | None = None

    # -- lifecycle --------------------------------------------------------------

    def start(self) -> DevcloudServer:
        """Start serving; returns once the server accepts connections."""
        if self._thread is not None:
            return self
        self._sock = bind_socket(self.host, self._port)
        self._port = self._sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.devcloud),
            log_level=self._log_level,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=2,
            # Clients pool connections; a short keep-alive makes them race the close.
            timeout_keep_alive=120,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="devcloud", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("devcloud server failed to start")
            time.sleep(0.01)
        self._client = httpx.Client(base_url=self.url, trust_env=False, timeout=30.0)
        return self

    def stop(self) -> None:
        """Stop serving and join the thread (the state file, if any, is saved)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
            if self._thread.is_alive():
                raise RuntimeError("devcloud server thread did not stop")
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None

    def __enter__(self) -> DevcloudServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses and clients ----------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self._port}"

    @property
    def auth_url(self) -> str:
        """The Keystone v3 auth URL written to clouds.yaml."""
        return f"{self.url}/identity/v3"

    def cloud_config(self) -> dict[str, Any]:
        """The clouds.yaml entry for this devcloud."""
        return cloud_entry(self.auth_url, self.devcloud.identity)

    def write_clouds_yaml(self, path: str | os.PathLike[str], cloud_name: str = "devcloud") -> Path:
        """Write/merge this devcloud as ``cloud_name`` into the clouds.yaml at ``path``."""
        return write_clouds_yaml(path, cloud_name, self.cloud_config())

    def connect(self, **kwargs: Any) -> Connection:
        """An openstacksdk Connection to this devcloud (no clouds.yaml/env involved)."""
        import openstack

        options: dict[str, Any] = {**self.cloud_config(), **kwargs}
        return openstack.connect(load_yaml_config=False, load_envvars=False, **options)

    # -- admin API -------------------------------------------------------------

    def _admin(self, method: str, path: str, body: Any = None) -> Any:
        if self._client is None:
            raise RuntimeError("devcloud server is not running")
        response = self._client.request(method, f"/devcloud{path}", json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    def faults(self) -> dict[str, Any]:
        return dict(self._admin("GET", "/faults"))

    def set_faults(self, **fields: Any) -> dict[str, Any]:
        """Partially update the fault settings (see :class:`Faults` for the fields)."""
        return dict(self._admin("PUT", "/faults", fields))

    def clear_faults(self) -> dict[str, Any]:
        return dict(self._admin("DELETE", "/faults"))

    def config(self) -> dict[str, Any]:
        return dict(self._admin("GET", "/config"))

    def set_config(self, **fields: Any) -> dict[str, Any]:
        """Partially update boot_delay / delete_delay / deleted_visible /
        floating_ip_delay / public_url."""
        return dict(self._admin("PUT", "/config", fields))

    def set_boot_delay(self, seconds: float) -> None:
        self.set_config(boot_delay=seconds)

    def set_delete_delay(self, seconds: float) -> None:
        self.set_config(delete_delay=seconds)

    def counters(self) -> dict[str, int]:
        """Calls per "METHOD /path/template" since the last reset."""
        return {str(k): int(v) for k, v in self._admin("GET", "/counters").items()}

    def request_ids(self) -> list[dict[str, str]]:
        """{"call": "METHOD /path/template", "request_id"} of recent answers, oldest first."""
        return [dict(entry) for entry in self._admin("GET", "/request-ids")]

    def reset_counters(self) -> None:
        self._admin("DELETE", "/counters")

    def reset(self, **parts: bool) -> None:
        """Back to the seeded state, no faults, zero counters and start config;
        pass e.g. ``faults=False`` to keep a part."""
        self._admin("POST", "/reset", parts or None)

    def seed(self, *, images: int | list[dict[str, Any]] = 0, flavors: int = 0) -> dict[str, int]:
        """Bulk-add active images and flavors."""
        return dict(self._admin("POST", "/seed", {"images": images, "flavors": flavors})["added"])

    def summary(self) -> dict[str, Any]:
        return dict(self._admin("GET", ""))
