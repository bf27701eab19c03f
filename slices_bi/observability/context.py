"""The request id (`X-Request-ID`) of the work in hand, and a logging filter that puts it on
every log record.

The API sets it for each request; a flow run sets it from its task. Log lines carry it as
`request_id` ("-" when there is none).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# What a client may send: short, printable, nothing a log or a Prefect tag would choke on.
MAX_REQUEST_ID_LENGTH = 128
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+/=@-]{0,127}")

_request_id: ContextVar[str | None] = ContextVar("slices_bi_request_id", default=None)


def sane_request_id(value: str | None) -> str | None:
    """`value` when it is usable as a request id (1-128 of `A-Za-z0-9._:+/=@-`), else None."""
    if value and _SANE.fullmatch(value):
        return value
    return None


def new_request_id() -> str:
    """A fresh request id."""
    return str(uuid.uuid4())


def current_request_id() -> str | None:
    """The request id of the work in hand, if any."""
    return _request_id.get()


@contextmanager
def request_id_bound(value: str | None) -> Iterator[None]:
    """Within the block, `current_request_id()` is `value`."""
    token = _request_id.set(value)
    try:
        yield
    finally:
        _request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Adds `record.request_id` (the current one, "-" without one) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = _request_id.get() or "-"
        return True
