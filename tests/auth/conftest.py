"""Fixtures for the auth tests: real keys, a JWKS file, explicit settings, a JSON server."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from slices_bi.settings import Settings

from .helpers import make_settings, public_jwk


@pytest.fixture(scope="session")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks_file(tmp_path: Path, ec_key: Any, rsa_key: Any) -> Path:
    """A JWKS file with the EC key as `ec1` and the RSA key as `rsa1`."""
    path = tmp_path / "jwks.json"
    keys = [public_jwk(ec_key, "ec1", "ES256"), public_jwk(rsa_key, "rsa1")]
    path.write_text(json.dumps({"keys": keys}))
    return path


@pytest.fixture
def file_settings(tmp_path: Path, jwks_file: Path) -> Callable[..., Settings]:
    """Settings reading keys from `jwks_file`; keyword arguments override fields."""

    def build(**overrides: Any) -> Settings:
        return make_settings(tmp_path, jwks_file=jwks_file, **overrides)

    return build


class JsonServer:
    """A tiny HTTP server on 127.0.0.1 serving JSON documents by path, counting hits."""

    def __init__(self) -> None:
        self.routes: dict[str, Any] = {}
        self.hits: dict[str, int] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.hits[self.path] = server.hits.get(self.path, 0) + 1
                    document = server.routes.get(self.path)
                body = json.dumps(document).encode()
                self.send_response(404 if document is None else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def serve(self, path: str, document: Any) -> str:
        with self._lock:
            self.routes[path] = document
        return self.url + path


@pytest.fixture
def json_server() -> Iterator[JsonServer]:
    server = JsonServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        server.thread.join(timeout=5)
