"""A database that stays locked: the API answers 503 with Retry-After, in bounded time."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from fastapi.testclient import TestClient

from slices_bi.api.app import API_PREFIX, create_app
from slices_bi.catalog import db as catalog_db
from slices_bi.private_files import sqlite_path
from slices_bi.settings import get_settings
from tests.api.conftest import bearer, request_body


@pytest.fixture
def short_lock_timeout(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SLICES_BI_DATABASE_LOCK_TIMEOUT_SECONDS", "0.5")
    get_settings.cache_clear()
    catalog_db.dispose_engines()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()
    catalog_db.dispose_engines()


@contextmanager
def _locked(url: str) -> Iterator[None]:
    """Another client holds the write lock (SQLite) or the tasks table (PostgreSQL)."""
    path = sqlite_path(url)
    if path is not None:
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    else:
        import psycopg

        holder = psycopg.connect(url)  # type: ignore[assignment]
        holder.execute("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE")
    try:
        yield
    finally:
        holder.rollback()
        holder.close()


def test_a_database_that_stays_locked_answers_503_with_retry_after(
    db, tokens, image, flavor, launcher, short_lock_timeout
):
    body = request_body(image, flavor, tokens)
    headers = bearer(tokens.experiment())
    answers: list[httpx.Response] = []
    with TestClient(create_app(launcher=launcher), base_url=f"http://x{API_PREFIX}") as client:
        with _locked(db):
            # In a thread: without a bound the request would hang until the lock goes.
            worker = threading.Thread(
                target=lambda: answers.append(client.post("/resources", json=body, headers=headers))
            )
            worker.start()
            worker.join(timeout=60)
            assert answers, "no answer while the database was locked"
        worker.join()
        assert answers[0].status_code == 503, answers[0].text
        assert answers[0].json()["error"] == "database_busy"
        assert int(answers[0].headers["retry-after"]) > 0
        again = client.post("/resources", json=body, headers=headers)
        assert again.status_code == 200, again.text
