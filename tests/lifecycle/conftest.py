"""Lifecycle fixtures: the API's and the flows' (one test drives both), a webhook receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlmodel import Session

from slices_bi.catalog.models import DiskImage, Flavor
from slices_bi.ids import new_id
from slices_bi.settings import Settings
from tests.api.conftest import client, launcher, tokens  # noqa: F401
from tests.flows.conftest import cloud, conn, openstack_limit  # noqa: F401


class Webhook:
    """An HTTP server on 127.0.0.1 that keeps the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def take(self) -> list[dict[str, Any]]:
        bodies = list(self.bodies)
        self.bodies.clear()
        return bodies


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    hook.thread.start()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


@pytest.fixture
def offered(session: Session, settings: Settings) -> tuple[DiskImage, Flavor]:
    """Catalog entries that exist in devcloud."""
    image = DiskImage(
        id=new_id("image", settings.site_id),
        friendly_name="Ubuntu 22.04",
        location="Ubuntu 22.04.5",
    )
    flavor = Flavor(
        id=new_id("flavor", settings.site_id),
        friendly_name="small",
        vcpus=1,
        ram_mib=2048,
        location="m1.small",
    )
    session.add(image)
    session.add(flavor)
    session.commit()
    return image, flavor
