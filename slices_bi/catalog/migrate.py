"""Schema migrations (alembic), runnable from code: `slices-bi db upgrade` and start-up."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from slices_bi.catalog.db import normalize_url
from slices_bi.private_files import make_private_sqlite
from slices_bi.settings import get_settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """An alembic Config for the catalog at `url` (default: the configured one)."""
    settings = get_settings()
    resolved = normalize_url(url or settings.effective_database_url)
    make_private_sqlite(resolved)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", resolved.replace("%", "%%"))
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Bring the catalog schema to `revision`."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    """Take the catalog schema back to `revision`."""
    command.downgrade(alembic_config(url), revision)
