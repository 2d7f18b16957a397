"""Configuration: ``config/crmhub.toml`` plus ``CRMHUB_…`` environment overrides.

The file is read with pydantic-settings; environment variables override any key, with
``__`` between nesting levels (``CRMHUB_HUB__API_KEYS='["k1"]'``,
``CRMHUB_PLUGINS__SHOPIFY__MAIN__ACCESS_TOKEN=shpat_…``). ``CRMHUB_CONFIG`` names another
file. Plugin instances (``[plugins.<plugin>.<instance>]``) are validated against each
plugin's own settings model once the plugins are discovered (see
:mod:`crmhub.core.instances`). Every problem becomes one :class:`ConfigError` naming the key.
"""

from __future__ import annotations

import os
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from crmhub.core.errors import ConfigError, register_secret

DEFAULT_CONFIG = Path("config/crmhub.toml")


class HubSettings(BaseModel):
    """The ``[hub]`` table: database, broker, API keys and links."""

    model_config = ConfigDict(extra="forbid")

    database_url: str = Field(
        default="sqlite:///var/crmhub.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db.",
    )
    broker_url: str = Field(
        default="",
        description='Job broker. "" runs jobs in-process (embedded); "redis://host:6379/0" for workers.',
    )
    api_keys: list[SecretStr] = Field(
        default_factory=list, description="Bearer keys accepted by /api/v1 and the dashboard."
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Public base URL of the hub, used for links in emails and webhook URIs.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Key that signs unsubscribe/tracking links and session cookies. "
        "Generated into var/secret_key on first start when unset.",
    )
    base_currency: str = Field(default="USD", description="Currency of revenue statistics.")
    default_region: str = Field(
        default="US",
        description="Country (ISO 3166 alpha-2) assumed for phone numbers written without "
        "a country code when the record has no address country.",
    )
    exchange_rates: dict[str, Decimal] = Field(
        default_factory=dict,
        description="Rates to the base currency, e.g. {EUR = 1.08}. Orders in other currencies "
        "without a rate are counted at face value (and logged once).",
    )
    webhook_max_bytes: int = Field(default=5 * 1024 * 1024, description="Largest webhook body.")
    webhook_retention_days: int = Field(
        default=7, description="Days a processed webhook body is kept before it is cleared."
    )
    worker_threads: int = Field(default=4, description="Threads per worker process.")
    worker_processes: int = Field(default=2, description="Processes started by `crmhub worker`.")
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: str = Field(default="json", description='"json" (structured) or "text".')

    @field_validator("base_currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if len(value) != 3 or not value.isalpha():
            raise ValueError("must be a three-letter ISO currency code")
        return value.upper()


class JobSettings(BaseModel):
    """The ``[jobs]`` table: retries, leases and timings of the job layer (times in seconds)."""

    model_config = ConfigDict(extra="forbid")

    namespace: str = Field(
        default="crmhub",
        description="Prefix of the broker's Redis keys; hubs that share one Redis use different ones.",
    )
    max_attempts: int = Field(default=8, ge=1, description="Attempts before a failing job becomes a dead letter.")
    retry_base: float = Field(
        default=5.0, gt=0, description="The first retry waits up to this long (full jitter); the cap doubles per attempt."
    )
    retry_max: float = Field(default=3600.0, gt=0, description="Longest wait between two attempts.")
    heartbeat_interval: float = Field(default=10.0, gt=0, description="How often a worker marks its running jobs alive.")
    visibility_timeout: float = Field(
        default=60.0, gt=0, description="A running job without a heartbeat for this long (its worker died) runs again."
    )
    redeliver_after: float = Field(
        default=300.0, gt=0, description="A job handed to the broker but not started after this long is sent again."
    )
    relay_interval: float = Field(
        default=1.0, gt=0, description="How often the active scheduler sends due jobs, recovers stale ones and schedules syncs."
    )
    poll_interval: float = Field(
        default=0.1, gt=0, description="Longest an idle worker waits before it asks the broker for messages again."
    )
    leader_ttl: float = Field(default=30.0, gt=0, description="Scheduler leadership lapses this long after its last renewal.")
    sync_lease_ttl: float = Field(
        default=60.0, gt=0, description="A running sync's lock lapses this long after its last renewal (its worker died)."
    )
    followup_delay: float = Field(
        default=30.0, ge=0, description="Scoring and segment refresh run this long after a sync changed data (bursts coalesce)."
    )
    shutdown_timeout: float = Field(
        default=30.0, ge=0, description="On SIGTERM, `crmhub worker` waits this long for running jobs before it kills them."
    )
    retention_days: int = Field(default=7, ge=1, description="Succeeded jobs are deleted after this many days.")


class SegmentSettings(BaseModel):
    """One ``[segments.<name>]`` table."""

    model_config = ConfigDict(extra="forbid")

    rule: str = Field(description="The segment rule (see docs/segments.md).")
    destinations: list[str] = Field(
        default_factory=list, description='Instances that receive the segment, e.g. ["hubspot.main"].'
    )
    description: str = Field(default="", description="Shown in the dashboard and API.")


class Settings(BaseSettings):
    """The whole configuration."""

    model_config = SettingsConfigDict(
        env_prefix="CRMHUB_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    hub: HubSettings = Field(default_factory=HubSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    plugins: dict[str, dict[str, dict[str, Any]]] = Field(
        default_factory=dict, description="Plugin instances: [plugins.<plugin>.<instance>]."
    )
    segments: dict[str, SegmentSettings] = Field(default_factory=dict)

    config_path: Path | None = Field(default=None, exclude=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def _format_location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def config_error_from_validation(exc: ValidationError, prefix: str = "") -> ConfigError:
    """Turn the first pydantic validation error into a ConfigError naming the key."""
    first = exc.errors()[0]
    key = ".".join(p for p in (prefix, _format_location(first["loc"])) if p)
    kind = first["type"]
    if kind == "missing":
        message = f"{key}: required key is missing"
    elif kind == "extra_forbidden":
        message = f"{key}: unknown key"
    else:
        message = f"{key}: {first['msg']}"
    more = len(exc.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ConfigError(message, key=key)


def resolve_config_path(path: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file to read: ``path``, else ``$CRMHUB_CONFIG``, else config/crmhub.toml
    when it exists. ``None`` means: defaults and environment only."""
    if path is not None:
        return Path(path)
    env = os.environ.get("CRMHUB_CONFIG")
    if env:
        return Path(env)
    return DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None


def load_settings(path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Read the configuration file and the environment into :class:`Settings`.

    :param path: the TOML file; defaults to ``$CRMHUB_CONFIG`` or ``config/crmhub.toml``.
    :param overrides: keyword values that win over file and environment (used by tests).
    :raises ConfigError: unreadable file, invalid TOML, unknown key or wrong type.
    """
    config_path = resolve_config_path(path)
    if config_path is not None:
        try:
            with open(config_path, "rb") as handle:
                tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError(f"config file {config_path} does not exist", key="CRMHUB_CONFIG")
        except PermissionError:
            raise ConfigError(f"config file {config_path} is not readable", key="CRMHUB_CONFIG")
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {config_path} is not valid TOML: {exc}", key=str(config_path))
    settings_cls: type[Settings] = type(
        "Settings", (Settings,), {"model_config": {**Settings.model_config, "toml_file": config_path}}
    )
    try:
        settings = settings_cls(**overrides)
    except ValidationError as exc:
        raise config_error_from_validation(exc) from None
    settings.config_path = config_path
    register_settings_secrets(settings.hub)
    return settings


def register_settings_secrets(model: BaseModel) -> None:
    """Register every SecretStr value of ``model`` with the redaction filter."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            register_secret(value.get_secret_value())
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, SecretStr):
                    register_secret(item.get_secret_value())


def secret_value(value: SecretStr | str | None) -> str:
    """The plain text of a secret setting ('' when unset)."""
    if value is None:
        return ""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value
