"""Alembic environment: migrates the catalog tables of slices_bi.catalog.models."""

from alembic import context
from sqlalchemy import create_engine, pool
from sqlmodel import SQLModel

import slices_bi.catalog.jobs
import slices_bi.catalog.models
import slices_bi.catalog.observed  # noqa: F401

config = context.config
target_metadata = SQLModel.metadata


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
