"""Temporary databases for tests: an SQLite file or a PostgreSQL database, migrated once.

``CRMHUB_TEST_DB`` picks the backend (``sqlite``, the default, or ``postgresql``);
``CRMHUB_TEST_PG_URL`` points at the PostgreSQL server (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``). Each pytest-xdist worker of each
checkout gets its own PostgreSQL database; each test starts from empty tables.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.pool import NullPool
from sqlalchemy.engine import make_url

from crmhub.core.storage import migrate
from crmhub.core.storage.engine import create_engine

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
#: Tells apart the databases of different checkouts testing against one server at once.
CHECKOUT = hashlib.sha1(str(Path(__file__).resolve()).encode()).hexdigest()[:8]


def backend() -> str:
    """The database backend the tests run on."""
    return os.environ.get("CRMHUB_TEST_DB", "sqlite").lower()


class TemplateDatabase:
    """A migrated database that tests reset cheaply between runs."""

    def __init__(self, workdir: Path, worker: str, plugin_folders: list[str], kind: str | None = None) -> None:
        self.workdir = workdir
        self.worker = worker
        self.plugin_folders = plugin_folders
        self.kind = kind or backend()
        if self.kind == "sqlite":
            self.template = workdir / "template.db"
            engine = create_engine(f"sqlite:///{self.template}")
            migrate.upgrade(engine, plugin_folders)
            engine.dispose()
        elif self.kind == "postgresql":
            server = make_url(os.environ.get("CRMHUB_TEST_PG_URL", DEFAULT_PG))
            name = f"crmhub_test_{worker}_{CHECKOUT}"
            admin = create_engine(server.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            admin.dispose()
            self.url = server.set(database=name).render_as_string(hide_password=False)
            engine = create_engine(self.url)
            migrate.upgrade(engine, plugin_folders)
            with engine.connect() as connection:
                self.tables = [
                    row[0]
                    for row in connection.execute(
                        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")
                    )
                ]
                self.sequences = [
                    row[0]
                    for row in connection.execute(
                        text("SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = 'public'")
                    )
                ]
            engine.dispose()
        else:
            raise RuntimeError(f"CRMHUB_TEST_DB={self.kind!r}: use sqlite or postgresql")

    def fresh_url(self, directory: Path) -> str:
        """A URL of an empty, migrated database for one test."""
        if self.kind == "sqlite":
            target = directory / "crmhub.db"
            shutil.copyfile(self.template, target)
            return f"sqlite:///{target}"
        engine = create_engine(self.url, poolclass=NullPool)
        with engine.begin() as connection:
            # DELETE is much faster than TRUNCATE on small tables; foreign keys are
            # switched off for this transaction only.
            connection.execute(text("SET LOCAL session_replication_role = replica"))
            for table in self.tables:
                connection.execute(text(f'DELETE FROM "{table}"'))
            for sequence in self.sequences:
                connection.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART WITH 1'))
        engine.dispose()
        return self.url
