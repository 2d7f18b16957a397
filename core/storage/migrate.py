"""Alembic migrations, run programmatically (``crmhub db upgrade`` and first start).

crmhub's own revisions live in ``migrations/versions``; plugins with tables add their own
folders through the ``crmhub_register_migrations`` hook (a branch depending on the core).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine, plugin_folders: list[str] | None = None) -> Config:
    """An alembic Config bound to ``engine`` with the core and plugin revision folders."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    folders = [str(MIGRATIONS / "versions"), *(plugin_folders or [])]
    config.set_main_option("version_locations", " ".join(folders))
    config.set_main_option("path_separator", "space")
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, plugin_folders: list[str] | None = None) -> list[str]:
    """Upgrade the database to every head. Returns the revisions applied (empty if none)."""
    config = alembic_config(engine, plugin_folders)
    before = set(current_revisions(engine))
    command.upgrade(config, "heads")
    return sorted(set(current_revisions(engine)) - before)


def current_revisions(engine: Engine) -> list[str]:
    """Revisions the database is at."""
    with engine.connect() as connection:
        return list(MigrationContext.configure(connection).get_current_heads())


def pending(engine: Engine, plugin_folders: list[str] | None = None) -> bool:
    """Whether the database is behind the code's heads."""
    script = ScriptDirectory.from_config(alembic_config(engine, plugin_folders))
    return set(current_revisions(engine)) != set(script.get_heads())
