"""Deleted user data leaves the SQLite files, not only the table.

Every connection runs with `secure_delete` (db.py), so a deleted row is overwritten with
zeros in the page that held it. In WAL mode the earlier versions of that page (with the
row) still sit in the `-wal` file until a checkpoint copies the WAL back and resets it:
after a commit that deleted user-data rows, a TRUNCATE checkpoint does that at once. When
readers keep it from finishing, it is tried again after the next commits.

On PostgreSQL a deleted row stays in the table file as a dead tuple until VACUUM reuses
the space, and in WAL segments until they are recycled (see the README, Security).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import ORMExecuteState, UOWTransaction
from sqlmodel import Session

from slices_bi.catalog.models import ResourceUserData

logger = logging.getLogger(__name__)

_DELETED = "slices_bi_user_data_deleted"
# Engines whose last checkpoint could not finish: retried after their next commit.
_owed: set[Engine] = set()


def _note_flush(session: Session, _: UOWTransaction) -> None:
    if any(isinstance(row, ResourceUserData) for row in session.deleted):
        session.info[_DELETED] = True


def _note_statement(state: ORMExecuteState) -> None:
    if state.is_delete and state.bind_mapper is not None:
        if state.bind_mapper.class_ is ResourceUserData:
            state.session.info[_DELETED] = True


def _after_commit(session: Session) -> None:
    deleted = session.info.pop(_DELETED, False)
    bind = session.bind
    engine = bind.engine if isinstance(bind, Connection) else bind
    if not isinstance(engine, Engine) or engine.dialect.name != "sqlite":
        return
    if deleted or engine in _owed:
        checkpoint(engine)


def _after_soft_rollback(session: Session, _: Any) -> None:
    session.info.pop(_DELETED, None)


def checkpoint(engine: Engine) -> bool:
    """Copy the WAL into the database file and truncate it; False when readers held it.

    Never raises: the commit it follows has happened, and a later commit tries again.
    """
    try:
        with engine.connect() as connection:
            busy, _, _ = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    except SQLAlchemyError as exc:
        busy = 1
        logger.warning("WAL checkpoint failed, retried later: %s", type(exc).__name__)
    if busy:
        _owed.add(engine)
        logger.info("WAL checkpoint postponed: readers are active")
        return False
    _owed.discard(engine)
    return True


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
