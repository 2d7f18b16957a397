"""Plugin instances: ``[plugins.<plugin>.<instance>]`` tables validated by each plugin's model.

A plugin registers once; each configured instance of it becomes an :class:`Instance`
(``shopify.main``) carrying the plugin's validated settings model. Hooks receive the
instance, so one plugin serves several shops.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from crmhub.core.errors import ConfigError, NotFound
from crmhub.core.settings import config_error_from_validation, register_settings_secrets

INSTANCE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,59}$")
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """Seconds in a duration such as ``"90s"``, ``"15m"``, ``"2h"`` or ``"1d"``."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration such as '15m', '2h' or '1d'")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


class InstanceSettings(BaseModel):
    """Keys every instance accepts. A plugin's settings model subclasses this."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="false keeps the table but switches the instance off.")
    sync_interval: str | None = Field(
        default=None, description='How often the scheduler syncs this instance, e.g. "15m".'
    )

    sync_lookback: dict[str, str] = Field(
        default_factory=dict,
        description='Per-stream lookback window that re-reads the cursor\'s edge, e.g. {orders = "30m"} '
        "(default: the stream's own).",
    )

    @field_validator("sync_interval")
    @classmethod
    def _interval(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("sync_lookback")
    @classmethod
    def _lookbacks(cls, value: dict[str, str]) -> dict[str, str]:
        for duration in value.values():
            parse_duration(duration)
        return value

    @property
    def sync_interval_seconds(self) -> int | None:
        """The sync interval in seconds, or None when the instance is not scheduled."""
        return parse_duration(self.sync_interval) if self.sync_interval else None

    def lookback_seconds(self, stream: str) -> int | None:
        """The configured lookback of ``stream`` in seconds, or None for the stream's default."""
        value = self.sync_lookback.get(stream)
        return parse_duration(value) if value else None


SettingsT = TypeVar("SettingsT", bound=InstanceSettings)


@dataclass(frozen=True)
class Instance(Generic[SettingsT]):
    """A configured instance of a plugin: ``plugin`` + ``name`` + validated ``settings``."""

    plugin: str
    name: str
    settings: SettingsT

    @property
    def id(self) -> str:
        """The instance's name everywhere: ``<plugin>.<instance>``."""
        return f"{self.plugin}.{self.name}"

    @property
    def enabled(self) -> bool:
        """Whether the instance is switched on."""
        return self.settings.enabled

    def __str__(self) -> str:
        return self.id


def split_instance_id(instance_id: str) -> tuple[str, str]:
    """``"shopify.main"`` → ``("shopify", "main")``."""
    plugin, dot, name = instance_id.partition(".")
    if not dot or not plugin or not name:
        raise NotFound(f"{instance_id!r} is not an instance name of the form <plugin>.<instance>")
    return plugin, name


def build_instances(
    raw: dict[str, dict[str, dict[str, Any]]],
    models: dict[str, type[InstanceSettings]],
) -> dict[str, Instance[Any]]:
    """Validate every configured instance against its plugin's settings model.

    :param raw: the ``plugins`` table of the configuration.
    :param models: settings model per discovered plugin name.
    :returns: instances by id (``shopify.main``), disabled ones included.
    :raises ConfigError: unknown plugin, bad instance name, missing key, wrong type.
    """
    instances: dict[str, Instance[Any]] = {}
    for plugin, tables in raw.items():
        if plugin not in models:
            known = ", ".join(sorted(models)) or "none"
            raise ConfigError(
                f"plugins.{plugin}: unknown plugin {plugin!r} (installed plugins: {known})",
                key=f"plugins.{plugin}",
            )
        if not isinstance(tables, dict):
            raise ConfigError(f"plugins.{plugin}: expected instance tables such as [plugins.{plugin}.main]", key=f"plugins.{plugin}")
        for name, values in tables.items():
            key = f"plugins.{plugin}.{name}"
            if not INSTANCE_NAME.match(name):
                raise ConfigError(
                    f"{key}: instance names use lower-case letters, digits, '-' and '_'", key=key
                )
            if not isinstance(values, dict):
                raise ConfigError(f"{key}: expected a table of settings", key=key)
            try:
                settings = models[plugin].model_validate(values)
            except ValidationError as exc:
                raise config_error_from_validation(exc, prefix=key) from None
            register_settings_secrets(settings)
            instance: Instance[Any] = Instance(plugin=plugin, name=name, settings=settings)
            instances[instance.id] = instance
    return instances
