"""The Hub: one configured crmhub — settings, plugins, instances, database and services.

Everything is built by :func:`create_hub` from a :class:`~crmhub.core.settings.Settings`,
never at import time, so a test (or a process) can run several hubs side by side.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from crmhub.core.errors import ConfigError, NotFound, register_secret
from crmhub.core.instances import Instance, build_instances, split_instance_id
from crmhub.core.plugins import PluginHooks, load_plugins
from crmhub.core.settings import Settings, secret_value
from crmhub.core.storage import migrate
from crmhub.core.storage.engine import create_engine, create_session_factory, transaction
from crmhub.core.storage.types import utcnow

log = logging.getLogger("crmhub.hub")


class Hub:
    """A running configuration of crmhub. Build it with :func:`create_hub`."""

    def __init__(
        self,
        settings: Settings,
        plugins: PluginHooks,
        engine: Engine,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.plugins = plugins
        self.engine = engine
        self.sessions: sessionmaker[Session] = create_session_factory(engine)
        self.clock = clock
        self.instances: dict[str, Instance[Any]] = build_instances(
            settings.plugins, plugins.settings_models()
        )
        self._services: dict[str, Any] = {}

    # -- database ------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in a transaction, committed on success and rolled back on error."""
        with transaction(self.sessions) as session:
            yield session

    def now(self) -> datetime:
        """The hub's clock (UTC)."""
        return self.clock()

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def upgrade_database(self) -> list[str]:
        """Apply pending migrations (core and plugins). Returns the revisions applied."""
        return migrate.upgrade(self.engine, self.plugins.migrations())

    def database_pending(self) -> bool:
        """Whether migrations are pending."""
        return migrate.pending(self.engine, self.plugins.migrations())

    # -- instances -----------------------------------------------------------

    def instance(self, instance_id: str, *, enabled: bool = True) -> Instance[Any]:
        """The instance named ``<plugin>.<instance>``.

        :raises NotFound: unknown, or disabled while ``enabled`` is required.
        """
        split_instance_id(instance_id)
        found = self.instances.get(instance_id)
        if found is None or (enabled and not found.enabled):
            state = "disabled" if found is not None else "not configured"
            raise NotFound(f"instance {instance_id!r} is {state}")
        return found

    def enabled_instances(self, plugin: str | None = None) -> list[Instance[Any]]:
        """Enabled instances, optionally of one plugin."""
        return [
            instance
            for instance in self.instances.values()
            if instance.enabled and (plugin is None or instance.plugin == plugin)
        ]

    # -- secrets -------------------------------------------------------------

    @cached_property
    def secret_key(self) -> bytes:
        """The key that signs links and cookies: ``[hub] secret_key``, or a key generated
        once into ``var/secret_key`` beside the embedded database."""
        configured = secret_value(self.settings.hub.secret_key)
        if configured:
            return configured.encode()
        path = Path("var/secret_key")
        if self.dialect == "sqlite" and self.engine.url.database not in (None, "", ":memory:"):
            path = Path(self.engine.url.database).expanduser().parent / "secret_key"
        if path.exists():
            key = path.read_text().strip()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            key = secrets.token_urlsafe(48)
            path.write_text(key)
            path.chmod(0o600)
        register_secret(key)
        return key.encode()

    # -- services (built lazily, one per hub) -----------------------------------

    def service(self, name: str, factory: Callable[[Hub], Any]) -> Any:
        """The hub's single instance of a service, built by ``factory`` on first use."""
        if name not in self._services:
            self._services[name] = factory(self)
        return self._services[name]

    def close(self) -> None:
        """Release the database pool and services."""
        for service in self._services.values():
            closer = getattr(service, "close", None)
            if callable(closer):
                closer()
        self._services.clear()
        self.engine.dispose()


def create_hub(
    settings: Settings,
    *,
    plugins: PluginHooks | None = None,
    clock: Callable[[], datetime] = utcnow,
    migrate_embedded: bool = True,
    engine: Engine | None = None,
) -> Hub:
    """Build a hub from settings.

    :param settings: the configuration.
    :param plugins: a plugin façade (default: every installed plugin).
    :param clock: the hub's clock (tests pass a fixed one).
    :param migrate_embedded: upgrade an SQLite database automatically (the embedded
        default needs no separate step); PostgreSQL is upgraded by ``crmhub db upgrade``.
    :param engine: an existing engine to use instead of one from ``database_url``.
    :raises ConfigError: invalid configuration.
    """
    plugins = plugins or load_plugins()
    engine = engine or create_engine(settings.hub.database_url)
    hub = Hub(settings, plugins, engine, clock=clock)
    for name, segment in settings.segments.items():
        for destination in segment.destinations:
            if destination not in hub.instances:
                raise ConfigError(
                    f"segments.{name}.destinations: {destination!r} is not a configured instance",
                    key=f"segments.{name}.destinations",
                )
    if migrate_embedded and hub.dialect == "sqlite":
        applied = hub.upgrade_database()
        if applied:
            log.info("database upgraded", extra={"revisions": applied})
    return hub
