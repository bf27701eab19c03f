"""Engines and sessions for the catalog database (SQLite by default, PostgreSQL via psycopg).

Waits are bounded by `settings.database_lock_timeout_seconds`: SQLite's busy timeout, the
pool's checkout timeout and, in API requests on PostgreSQL, `lock_timeout`. SQLite files
are private to their owner and deleted rows are overwritten (see `scrub.py`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, create_engine

from slices_bi import private_files
from slices_bi.catalog import scrub
from slices_bi.settings import Settings, get_settings

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def normalize_url(url: str) -> str:
    """Pick the psycopg 3 driver for bare PostgreSQL URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The API and the flow processes write the same file: WAL lets readers go on during a
    # write, and busy_timeout makes a writer wait (a bounded time) instead of failing.
    # secure_delete overwrites deleted rows (user data with passwords) with zeros.
    busy_ms = int(get_settings().database_lock_timeout_seconds * 1000)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def get_engine(url: str | None = None) -> Engine:
    """The process-wide engine for `url` (default: the configured catalog URL)."""
    resolved = normalize_url(url or get_settings().effective_database_url)
    with _engines_lock:
        engine = _engines.get(resolved)
        if engine is None:
            timeout = get_settings().database_lock_timeout_seconds
            if resolved.startswith("sqlite"):
                private_files.make_private_sqlite(resolved)
                # SQLite connections are cheap; a worker runs many flow threads at once.
                engine = create_engine(
                    resolved,
                    connect_args={"check_same_thread": False},
                    hide_parameters=True,
                    pool_size=10,
                    max_overflow=90,
                    pool_timeout=timeout,
                )
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                # hide_parameters: an error must not carry user data into a log line.
                engine = create_engine(
                    resolved,
                    pool_pre_ping=True,
                    pool_size=10,
                    max_overflow=30,
                    pool_timeout=timeout,
                    hide_parameters=True,
                )
            _engines[resolved] = engine
        return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests and process shutdown)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


@contextmanager
def session_scope(settings: Settings | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    url = (settings or get_settings()).effective_database_url
    with Session(get_engine(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def _bound_lock_waits(_session: Session, _transaction: Any, connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        ms = int(get_settings().database_lock_timeout_seconds * 1000)
        connection.execute(text(f"SET LOCAL lock_timeout = {ms}"))


def request_session() -> Session:
    """A session for one API request: on PostgreSQL its lock waits are bounded too (SQLite's
    are, by its busy timeout), so a busy database answers 503 instead of hanging."""
    session = Session(get_engine(), expire_on_commit=False)
    event.listen(session, "after_begin", _bound_lock_waits)
    return session


scrub.install()
