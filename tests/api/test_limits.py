"""Bounded input over a real socket: chunked bodies, huge heads, content types, headers."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator

import pytest

from slices_bi.api.app import API_PREFIX, create_app
from slices_bi.api.limits import MAX_BODY_BYTES, RequestLimits
from slices_bi.api.serve import MAX_SERVER_HEAD_BYTES
from tests.api.conftest import bearer, request_body
from tests.api.live import serve

CHUNK = 64 * 1024


@pytest.fixture
def live(db, launcher) -> Iterator[tuple[str, int]]:
    with serve(create_app(launcher=launcher)) as url:
        host, port = url.removeprefix("http://").split(":")
        yield host, int(port)


def _exchange(address: tuple[str, int], head: bytes, chunks: Iterator[bytes]) -> bytes:
    """Send `head` then `chunks` while reading the answer (the server may answer and hang
    up before all is sent); the raw answer."""

    def write(sock: socket.socket) -> None:
        try:
            sock.sendall(head)
            for chunk in chunks:
                sock.sendall(chunk)
        except OSError:
            pass  # the server answered and closed

    with socket.create_connection(address, timeout=60) as sock:
        writer = threading.Thread(target=write, args=(sock,), daemon=True)
        writer.start()
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
        except ConnectionResetError:
            pass
        writer.join(timeout=60)
    return answer


def _status_and_body(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


def _chunked(total: int) -> Iterator[bytes]:
    """`total` bytes of a JSON string body, in chunked transfer coding."""
    sent = 0
    while sent < total:
        size = min(CHUNK, total - sent)
        yield f"{size:x}\r\n".encode() + b"x" * size + b"\r\n"
        sent += size
    yield b"0\r\n\r\n"


def test_a_chunked_body_past_the_limit_is_refused_with_413(live, tokens):
    head = (
        f"POST {API_PREFIX}/resources HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {tokens.experiment()}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    # Just past the limit, so the whole body fits in the socket buffers and the answer is
    # never lost to a reset; the count below shows that reading stops at the limit.
    answer = _exchange(live, head, _chunked(MAX_BODY_BYTES + 4 * CHUNK))
    status, body = _status_and_body(answer)
    assert status == 413, answer[:300]
    assert body["error"] == "body_too_large"


def test_reading_stops_at_the_limit_whatever_the_client_sends():
    received = 0
    reached_app = False

    async def endless() -> dict:
        nonlocal received
        received += CHUNK
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": True}

    async def app(scope, receive, send) -> None:
        nonlocal reached_app
        reached_app = True

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [], "raw_path": b"/"}
    asyncio.run(RequestLimits(app)(scope, endless, send))
    assert sent[0]["status"] == 413
    assert not reached_app
    assert received <= MAX_BODY_BYTES + CHUNK


def test_a_huge_authorization_header_never_reaches_the_app(db, launcher):
    largest_seen = 0
    app = create_app(launcher=launcher)

    async def recording(scope, receive, send) -> None:
        nonlocal largest_seen
        if scope["type"] == "http":
            size = sum(len(n) + len(v) for n, v in scope["headers"])
            largest_seen = max(largest_seen, size)
        await app(scope, receive, send)

    with serve(recording) as url:
        host, port = url.removeprefix("http://").split(":")
        for size, expected in ((40 * 1024, 431), (8 * 1024 * 1024, 400)):
            head = (
                f"GET {API_PREFIX}/flavors HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: Bearer {'a' * size}\r\n\r\n"
            ).encode()
            answer = _exchange((host, int(port)), head, iter(()))
            assert int(answer.split(b" ", 2)[1]) == expected, answer[:300]
            if expected == 431:
                assert _status_and_body(answer)[1]["error"] == "headers_too_large"
    assert 40 * 1024 < largest_seen < MAX_SERVER_HEAD_BYTES


def test_answers_carry_security_headers_and_no_server_header(live, tokens):
    import httpx

    base = f"http://{live[0]}:{live[1]}"
    with httpx.Client(base_url=base) as client:
        answers = {
            "json": client.get(f"{API_PREFIX}/flavors", headers=bearer(tokens.user())),
            "error": client.get(f"{API_PREFIX}/flavors"),
            "docs": client.get("/docs"),
            "redoc": client.get("/redoc"),
        }
    for name, answer in answers.items():
        assert "server" not in answer.headers, name
        assert answer.headers["x-content-type-options"] == "nosniff", name
        assert answer.headers["cache-control"] == "no-store", name
        csp = answer.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        if name in ("docs", "redoc"):
            assert "'self'" in csp
            assert "https://" not in csp  # the assets come from the API itself
        else:
            assert csp.startswith("default-src 'none'")


def test_json_without_content_type_is_read_as_json(client, tokens, image, flavor):
    body = request_body(image, flavor, tokens)
    response = client.post(
        "/resources", content=json.dumps(body).encode(), headers=bearer(tokens.experiment())
    )
    assert response.status_code == 200, response.text


def test_another_content_type_is_a_415_naming_the_header(client, tokens, image, flavor):
    body = request_body(image, flavor, tokens)
    response = client.post(
        "/resources",
        content=json.dumps(body).encode(),
        headers={**bearer(tokens.experiment()), "Content-Type": "text/plain"},
    )
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"
    assert "Content-Type: application/json" in response.json()["detail"]
