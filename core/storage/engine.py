"""Engine and session factories for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from crmhub.core.errors import ConfigError


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_engine(database_url: str, **kwargs: Any) -> Engine:
    """Create the engine for ``[hub] database_url``.

    SQLite files get WAL mode, a busy timeout and foreign keys, and their folder is
    created; PostgreSQL URLs use psycopg 3 (``postgresql://`` is read as
    ``postgresql+psycopg://``).

    :raises ConfigError: the URL cannot be parsed or names an unsupported database.
    """
    try:
        url = make_url(database_url)
    except ArgumentError:
        raise ConfigError(f"hub.database_url: cannot parse {database_url!r}", key="hub.database_url") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa_create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend == "postgresql":
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        if "poolclass" not in kwargs:
            kwargs.setdefault("pool_size", 10)
            kwargs.setdefault("max_overflow", 20)
        kwargs.setdefault("pool_pre_ping", True)
        return sa_create_engine(url, **kwargs)
    raise ConfigError(
        f"hub.database_url: {backend!r} is not supported (use sqlite:/// or postgresql+psycopg://)",
        key="hub.database_url",
    )


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose sessions keep objects usable after commit."""
    return sessionmaker(bind=engine, class_=Session, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session in a transaction: committed on success, rolled back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
