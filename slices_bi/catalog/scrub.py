"""Deleted user data leaves the SQLite files, not only the table.

Every connection runs with `secure_delete` (db.py), so a deleted row is overwritten with
zeros in the page that held it. In WAL mode the earlier versions of that page (with the
row) still sit in the `-wal` file until a checkpoint copies the WAL back and resets it:
after a commit that deleted user-data rows, a TRUNCATE checkpoint does that within a
moment. It runs in a thread of its own, on a connection of its own (never one of the
pool's: fifty flow threads committing at once must not wait for each other's checkpoint),
and is tried again every `RETRY_SECONDS` while readers keep it from finishing.

On PostgreSQL a deleted row stays in the table file as a dead tuple until VACUUM reuses
the space, and in WAL segments until they are recycled (see the README, Security).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import ORMExecuteState, UOWTransaction
from sqlalchemy.pool import NullPool
from sqlmodel import Session

from slices_bi.catalog.models import ResourceUserData

logger = logging.getLogger(__name__)

_DELETED = "slices_bi_user_data_deleted"
RETRY_SECONDS = 0.5


class _Checkpointer:
    """Checkpoints the SQLite files whose user data was deleted, one thread per process."""

    def __init__(self) -> None:
        self._owed: dict[str, Engine] = {}  # url -> engine of its own (NullPool)
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None

    def owe(self, engine: Engine) -> None:
        url = engine.url.render_as_string(hide_password=False)
        with self._lock:
            if url not in self._owed:
                self._owed[url] = create_engine(url, poolclass=NullPool)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="slices-bi-checkpoint", daemon=True
                )
                self._thread.start()
            self._lock.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._owed:
                    self._lock.wait()
                owed = dict(self._owed)
            for url, engine in owed.items():
                if checkpoint(engine):
                    with self._lock:
                        if self._owed.get(url) is engine:
                            del self._owed[url]
                    engine.dispose()
            with self._lock:
                if self._owed:
                    self._lock.wait(RETRY_SECONDS)

    def pending(self) -> bool:
        with self._lock:
            return bool(self._owed)


_checkpointer = _Checkpointer()


def _note_flush(session: Session, _: UOWTransaction) -> None:
    if any(isinstance(row, ResourceUserData) for row in session.deleted):
        session.info[_DELETED] = True


def _note_statement(state: ORMExecuteState) -> None:
    if state.is_delete and state.bind_mapper is not None:
        if state.bind_mapper.class_ is ResourceUserData:
            state.session.info[_DELETED] = True


def _after_commit(session: Session) -> None:
    if not session.info.pop(_DELETED, False):
        return
    bind = session.bind
    engine = bind.engine if isinstance(bind, Connection) else bind
    if isinstance(engine, Engine) and engine.dialect.name == "sqlite":
        _checkpointer.owe(engine)


def _after_soft_rollback(session: Session, _: Any) -> None:
    session.info.pop(_DELETED, None)


def checkpoint(engine: Engine) -> bool:
    """Copy the WAL into the database file and truncate it; False when readers held it or
    the database could not be reached (the caller tries again). Never raises."""
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA busy_timeout=1000")
            busy, _, _ = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    except SQLAlchemyError as exc:
        logger.info("WAL checkpoint not done, retried soon: %s", type(exc).__name__)
        return False
    return not busy


def scrubbed() -> bool:
    """True when no checkpoint is owed (tests wait for it)."""
    return not _checkpointer.pending()


def install() -> None:
    """Listen to every Session (once)."""
    listeners: list[tuple[str, Any]] = [
        ("after_flush", _note_flush),
        ("do_orm_execute", _note_statement),
        ("after_commit", _after_commit),
        ("after_soft_rollback", _after_soft_rollback),
    ]
    for name, listener in listeners:
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)
