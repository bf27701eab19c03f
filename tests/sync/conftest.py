"""catalog-sync fixtures: devcloud, an empty catalog, and a way to count catalog writes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openstack.connection import Connection
from sqlalchemy import event

from slices_bi.catalog import db as catalog_db
from slices_bi.openstack.connection import close_connections
from slices_bi.settings import Settings


@pytest.fixture
def cloud(devcloud: Any, db: str) -> Iterator[Any]:
    """devcloud in its seeded state (3 images, 4 flavors) and an empty catalog."""
    close_connections()
    yield devcloud
    close_connections()


@pytest.fixture
def conn(cloud: Any) -> Iterator[Connection]:
    """The test's own connection, to change the cloud behind slices-bi's back."""
    connection = cloud.connect()
    yield connection
    connection.close()


@pytest.fixture
def sync_settings(settings: Settings) -> Settings:
    """Settings with a default username no seeded image carries, to tell them apart."""
    return settings.model_copy(update={"default_username": "experimenter"})


class WriteRecorder:
    """Every INSERT/UPDATE/DELETE the catalog engine sends while recording."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            self.statements.append(statement)


@pytest.fixture
def writes(db: str) -> Iterator[WriteRecorder]:
    recorder = WriteRecorder()
    engine = catalog_db.get_engine(db)
    event.listen(engine, "before_cursor_execute", recorder)
    yield recorder
    event.remove(engine, "before_cursor_execute", recorder)
