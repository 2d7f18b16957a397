"""Alembic environment: uses the engine the caller put in ``config.attributes``."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import crmhub.core.models  # noqa: F401  (registers the tables)

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    """Run migrations on the engine given by crmhub (or a URL in sqlalchemy.url)."""
    engine = config.attributes.get("engine")
    if engine is None:
        from crmhub.core.storage.engine import create_engine

        engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
