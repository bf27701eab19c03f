"""How the API is served: uvicorn settings shared by `slices-bi api` and the tests."""

from __future__ import annotations

from typing import Any

import uvicorn

# h11 refuses a request head larger than this before the app sees it (httptools, uvicorn's
# other parser, has no such bound); heads between limits.MAX_HEAD_BYTES and this get the
# API's own JSON 431.
MAX_SERVER_HEAD_BYTES = 64 * 1024


def uvicorn_config(app: Any, *, host: str, port: int) -> uvicorn.Config:
    """The uvicorn configuration of the API: bounded request heads, no `Server` header;
    uvicorn's own lines go through slices-bi's logging (`slices_bi.logs`), and the access
    line is the API's own (with the request id, `slices_bi.api.correlation`)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        http="h11",
        h11_max_incomplete_event_size=MAX_SERVER_HEAD_BYTES,
        server_header=False,
    )
