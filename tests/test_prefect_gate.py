"""The Prefect write gate: writes one at a time across threads and processes, reads free."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from slices_bi.devcloud.server import bind_socket
from slices_bi.prefect_gate import GatedTransport, is_write


class Meter:
    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.lock = threading.Lock()

    async def handle(self, request: Request) -> JSONResponse:
        import anyio

        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        await anyio.sleep(0.1)
        with self.lock:
            self.now -= 1
        return JSONResponse({})


def _server(meter: Meter) -> tuple[uvicorn.Server, str]:
    app = Starlette(routes=[Route("/{path:path}", meter.handle, methods=["GET", "POST"])])
    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{sock.getsockname()[1]}"


def _burst(url: str, method: str, path: str, lock: Path) -> None:
    def one() -> None:
        with httpx.Client(transport=GatedTransport(str(lock))) as client:
            client.request(method, f"{url}{path}")

    threads = [threading.Thread(target=one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_writes_go_one_at_a_time_and_reads_do_not_wait(tmp_path: Path) -> None:
    writes, reads = Meter(), Meter()
    write_server, write_url = _server(writes)
    read_server, read_url = _server(reads)
    try:
        _burst(write_url, "POST", "/api/flow_runs/x/set_state", tmp_path / "gate.lock")
        _burst(read_url, "POST", "/api/flow_runs/filter", tmp_path / "gate.lock")
    finally:
        write_server.should_exit = read_server.should_exit = True
    assert writes.most == 1
    assert reads.most > 1


def test_what_counts_as_a_write() -> None:
    request = lambda method, path: httpx.Request(method, f"http://h{path}")  # noqa: E731
    assert is_write(request("POST", "/api/deployments/d/create_flow_run"))
    assert is_write(request("PATCH", "/api/flow_runs/r"))
    assert is_write(request("DELETE", "/api/flow_runs/r"))
    assert not is_write(request("GET", "/api/flow_runs/r"))
    assert not is_write(request("POST", "/api/flow_runs/filter"))
    assert not is_write(request("POST", "/api/deployments/get_scheduled_flow_runs"))
