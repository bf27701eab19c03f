"""Shared fixtures: a real catalog database, devcloud over HTTP, and a real Prefect server.

The database is SQLite in a temporary folder, or PostgreSQL when TEST_DATABASE_URL is set.
Tests that need Prefect ask for `prefect_api_url` (one `prefect_test_harness` per session).
"""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session, SQLModel

from slices_bi.catalog import db as catalog_db
from slices_bi.catalog import jobs as _jobs  # noqa: F401  (registers the job_leases table)
from slices_bi.catalog import observed as _observed  # noqa: F401  (metrics, receipts)
from slices_bi.catalog.migrate import upgrade
from slices_bi.settings import Settings, get_settings

SITE_ID = "tld-city-bp1"
_SESSION = pytest.StashKey[pytest.Session]()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("slices-bi-data")


@pytest.fixture(scope="session")
def database_url(data_dir: Path) -> str:
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{data_dir / 'catalog.db'}"


@pytest.fixture(scope="session", autouse=True)
def _environment(data_dir: Path, database_url: str) -> Iterator[None]:
    """Point every settings read of this process (and of the processes it starts) at test parts."""
    clouds_yaml = data_dir / "clouds.yaml"
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("SLICES_BI_") or name in ("OS_CLOUD", "OS_CLIENT_CONFIG_FILE"):
                patch.delenv(name)
        patch.setenv("SLICES_BI_DATA_DIR", str(data_dir))
        patch.setenv("SLICES_BI_DATABASE_URL", database_url)
        patch.setenv("SLICES_BI_SITE_ID", SITE_ID)
        patch.setenv("SLICES_BI_DEV_ISSUER", "true")
        patch.setenv("SLICES_BI_CLOUD", "devcloud")
        patch.setenv(
            "SLICES_BI_ADMIN_USER_IDS", '["user_dev.slices-bi_admin0000000000000000000000"]'
        )
        patch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds_yaml))
        # The harness's Prefect server is a stock SQLite one: Prefect writes go one at a time.
        patch.setenv("SLICES_BI_PREFECT_WRITE_LOCK", str(data_dir / "prefect-writes.lock"))
        patch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        # No `.env` of a developer's `slices-bi up` may reach the tests' settings.
        patch.chdir(data_dir)
        get_settings.cache_clear()
        yield
    get_settings.cache_clear()
    catalog_db.dispose_engines()


@pytest.fixture
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def migrated_database(database_url: str) -> str:
    """The test database, emptied of any earlier run's tables and migrated to head."""
    engine = catalog_db.get_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    SQLModel.metadata.drop_all(engine)
    upgrade(database_url)
    return database_url


def _empty_tables(url: str) -> None:
    engine = catalog_db.get_engine(url)
    tables = list(reversed(SQLModel.metadata.sorted_tables))
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(table.name for table in tables)
            connection.execute(text(f"TRUNCATE {names} CASCADE"))
        else:
            for table in tables:
                connection.execute(table.delete())


@pytest.fixture
def db(migrated_database: str) -> Iterator[str]:
    """A migrated, empty catalog for one test (tables emptied before and after)."""
    _empty_tables(migrated_database)
    yield migrated_database
    _empty_tables(migrated_database)


@pytest.fixture
def session(db: str) -> Iterator[Session]:
    with Session(catalog_db.get_engine(db), expire_on_commit=False) as session:
        yield session


@pytest.fixture(scope="session")
def devcloud_server(data_dir: Path) -> Iterator[object]:
    """One devcloud for the session, reached by openstacksdk through the clouds.yaml above."""
    from slices_bi.devcloud.server import DevcloudServer

    with DevcloudServer(boot_delay=0.2) as server:
        server.write_clouds_yaml(Path(os.environ["OS_CLIENT_CONFIG_FILE"]), cloud_name="devcloud")
        yield server


@pytest.fixture
def devcloud(devcloud_server: object) -> Iterator[object]:
    """devcloud back in its seeded state, without faults, for one test."""
    server = devcloud_server
    server.reset()  # type: ignore[attr-defined]
    server.clear_faults()  # type: ignore[attr-defined]
    yield server
    server.clear_faults()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def prefect_api_url() -> Iterator[str]:
    """A real Prefect server (temporary SQLite database) for the whole session."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        url = PREFECT_API_URL.value()
        assert url
        os.environ["PREFECT_API_URL"] = url
        yield url
        os.environ.pop("PREFECT_API_URL", None)


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_SESSION] = session


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave with pytest's status once everything has been reported and cleaned up.

    Threads that flows and the API leave behind (server watchers, metric flushers, Prefect's
    own services) are daemons; CPython ends them at interpreter exit wherever they are, and
    one caught inside native code aborts the process ("FATAL: exception not rethrown") after
    every test passed. The exit handlers still run first (temporary folders, servers)."""
    session = config.stash.get(_SESSION, None)
    if session is None or not hasattr(session, "exitstatus"):
        return
    status = int(session.exitstatus)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
