"""The Prefect server that `up` runs: Prefect's own app, with one change when its database is
SQLite: every transaction that may write begins `IMMEDIATE`.

A stock SQLite-backed Prefect server begins its write transactions `DEFERRED`: a transaction
reads, another writer commits, and the first one's write then fails at once with "database
is locked" (SQLite cannot wait that conflict out), answered as 503. Measured here, fifty
flow-run creations and their state changes sent at once got 111 answers 503 and 45 dropped
connections out of 200 writes. Begun `IMMEDIATE`, a writer waits for the one before it
(SQLite's busy timeout, 60 s as Prefect sets it) and reads outside transactions are not held
back while the connection pool has room: the same burst got 200 answers 201. The
configuration is set through Prefect's database dependency (`MODELS_DEPENDENCIES`, as
`temporary_database_config` does); a PostgreSQL-backed server is left as Prefect makes it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import uvicorn
from prefect.server.database import configurations
from prefect.server.database.dependencies import MODELS_DEPENDENCIES
from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL, get_current_settings


class OneWriterSqliteConfiguration(configurations.AioSqliteConfiguration):
    """Prefect's SQLite configuration, with `BEGIN IMMEDIATE` for every transaction it opens."""

    def begin_sqlite_stmt(self, conn: sa.Connection) -> None:
        # Prefect opens a transaction only where it sets a begin mode; reads without one stay
        # out of transactions (and are never held back by a writer in WAL mode).
        if configurations.SQLITE_BEGIN_MODE.get() is not None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def serve(host: str | None = None, port: int | None = None) -> None:
    """Run the Prefect server and UI on `host:port` (default: Prefect's server settings)
    until SIGINT/SIGTERM."""
    settings = get_current_settings()
    database_url = str(PREFECT_API_DATABASE_CONNECTION_URL.value())
    if database_url.startswith("sqlite"):
        config: Any = OneWriterSqliteConfiguration(connection_url=database_url)
        MODELS_DEPENDENCIES["database_config"] = config
    from prefect.server.api.server import create_app

    uvicorn.run(
        create_app(final=True),
        host=host or settings.server.api.host,
        port=port or settings.server.api.port,
        timeout_keep_alive=settings.server.api.keepalive_timeout,
        log_level=settings.server.logging_level.lower(),
    )
