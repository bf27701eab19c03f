"""Logging of every slices-bi process: text or JSON lines (`SLICES_BI_LOG_FORMAT`), each
record with the request id of the work in hand (`request_id`, "-" without one)."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

from slices_bi.observability.context import RequestIdFilter
from slices_bi.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
JSON_FIELDS = ["asctime", "levelname", "name", "request_id", "message"]
_RENAMED = {"asctime": "time", "levelname": "level", "name": "logger"}
_CHATTY = ("alembic", "httpx")


def formatter(log_format: str) -> logging.Formatter:
    """The formatter of `log_format` ("text" or "json")."""
    if log_format == "json":
        return JsonFormatter(JSON_FIELDS, rename_fields=_RENAMED)
    return logging.Formatter(TEXT_FORMAT)


def configure(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Log INFO and above of every logger to `stream` (stderr) in the configured format;
    returns the handler (replacing one an earlier call installed)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_slices_bi", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(settings.log_format))
    handler.addFilter(RequestIdFilter())
    handler._slices_bi = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for chatty in _CHATTY:
        logging.getLogger(chatty).setLevel(logging.WARNING)
    return handler
