"""How the API is served: uvicorn settings shared by `slices-bi api` and the tests."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI


def uvicorn_config(app: FastAPI, *, host: str, port: int) -> uvicorn.Config:
    """The uvicorn configuration of the API."""
    return uvicorn.Config(app, host=host, port=port)
