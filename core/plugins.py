"""The plugin manager and the one typed façade that calls hooks.

Plugins, built-in or third-party, are found through the ``crmhub.plugins`` entry-point
group; the entry point's name is the plugin's name (``shopify``) and its target a module of
hook implementations. ``CRMHUB_DISABLED_PLUGINS=a,b`` blocks plugins;
``CRMHUB_TRACE_HOOKS=1`` logs every hook call (values redacted).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from crmhub.core import hookspecs
from crmhub.core.errors import ConfigError, NotFound, redact
from crmhub.core.instances import Instance, InstanceSettings

if TYPE_CHECKING:
    from datetime import datetime

    import fastapi
    import typer

    from crmhub.core.destinations import Destination
    from crmhub.core.hub import Hub
    from crmhub.core.models import WebhookEvent
    from crmhub.core.records import CanonicalRecord
    from crmhub.core.sources import Stream
    from crmhub.core.webhooks import WebhookDelivery, WebhookRequest

ENTRY_POINT_GROUP = "crmhub.plugins"
hookimpl = pluggy.HookimplMarker(hookspecs.PROJECT)
log = logging.getLogger("crmhub.plugins")


@dataclass
class PluginInfo:
    """A discovered plugin: where it came from and which hooks it implements."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    description: str
    hooks: list[str] = field(default_factory=list)


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if doc and doc.strip() else ""


def load_plugins(
    *, extra_plugins: dict[str, object] | None = None, load_entry_points: bool = True
) -> PluginHooks:
    """Build a plugin manager with crmhub's hookspecs and every installed plugin, wrapped
    in the :class:`PluginHooks` façade.

    :param extra_plugins: name → plugin object registered as well (tests, embedding).
    :param load_entry_points: discover plugins from the ``crmhub.plugins`` group.
    :raises ConfigError: a plugin implements a hook that does not exist (``check_pending``)
        or cannot be imported.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    distributions: dict[str, tuple[str | None, str | None]] = {}
    blocked = {n.strip() for n in os.environ.get("CRMHUB_DISABLED_PLUGINS", "").split(",") if n.strip()}
    for name in blocked:
        pm.set_blocked(name)
    if load_entry_points:
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in blocked or pm.has_plugin(ep.name):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken third-party plugin must be named clearly
                raise ConfigError(
                    f"plugin {ep.name!r} ({ep.value}) failed to import: {exc}", key=f"plugins.{ep.name}"
                ) from exc
            pm.register(plugin, name=ep.name)
            dist = ep.dist
            distributions[ep.name] = (dist.name, dist.version) if dist is not None else (None, None)
    for name, plugin in (extra_plugins or {}).items():
        if name not in blocked:
            pm.register(plugin, name=name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise ConfigError(f"plugin {exc.plugin!r}: {exc}", key="plugins") from None
    if os.environ.get("CRMHUB_TRACE_HOOKS") == "1":
        pm.trace.root.setwriter(lambda message: log.debug("hook %s", redact(str(message)).rstrip()))
        pm.enable_tracing()
    return PluginHooks(pm, distributions)


class PluginHooks:
    """The one typed wrapper around ``pm.hook``; nothing else in crmhub calls hooks.

    Instance hooks are called on the plugin that owns the instance only.
    """

    def __init__(
        self,
        pm: pluggy.PluginManager,
        distributions: dict[str, tuple[str | None, str | None]] | None = None,
    ) -> None:
        self.pm = pm
        self.distributions = distributions or {}

    # -- discovery ---------------------------------------------------------

    def names(self) -> list[str]:
        """Names of registered plugins, sorted."""
        return sorted(name for name, _ in self.pm.list_name_plugin() if name is not None)

    def info(self) -> list[PluginInfo]:
        """Discovered plugins with their distribution and implemented hooks."""
        infos = []
        for name in self.names():
            plugin = self.pm.get_plugin(name)
            hooks = sorted(
                caller.name for caller in self.pm.get_hookcallers(plugin) or [] if caller.name != "crmhub_plugin_settings"
            )
            module = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
            dist, version = self.distributions.get(name, (None, None))
            infos.append(
                PluginInfo(
                    name=name,
                    module=module,
                    distribution=dist,
                    version=version,
                    description=_first_line(getattr(plugin, "__doc__", None)),
                    hooks=hooks,
                )
            )
        return infos

    def settings_models(self) -> dict[str, type[InstanceSettings]]:
        """The settings model of every plugin (``InstanceSettings`` when it declares none)."""
        return {
            name: self._owner(name).crmhub_plugin_settings() or InstanceSettings for name in self.names()
        }

    def _owner(self, plugin: str) -> Any:
        """The hook relay restricted to one plugin."""
        owner = self.pm.get_plugin(plugin)
        if owner is None:
            raise NotFound(f"plugin {plugin!r} is not installed")
        others = [p for p in self.pm.get_plugins() if p is not owner]
        return _SubsetRelay(self.pm, others)

    def implements(self, plugin: str, hook: str) -> bool:
        """Whether ``plugin`` implements ``hook``."""
        owner = self.pm.get_plugin(plugin)
        if owner is None:
            return False
        return any(caller.name == hook for caller in self.pm.get_hookcallers(owner) or [])

    # -- registration ------------------------------------------------------

    def migrations(self) -> list[str]:
        """Folders of plugins' alembic revisions."""
        return [path for path in self.pm.hook.crmhub_register_migrations() if path]

    def jobs(self, hub: Hub) -> dict[str, Any]:
        """Job functions registered by plugins."""
        jobs: dict[str, Any] = {}
        for registered in self.pm.hook.crmhub_register_jobs(hub=hub):
            jobs.update(registered or {})
        return jobs

    # -- instance hooks ----------------------------------------------------

    def source_streams(self, hub: Hub, instance: Instance[Any]) -> list[Stream[Any]]:
        """The instance's streams (empty when its plugin is not a source)."""
        return self._owner(instance.plugin).crmhub_source_streams(hub=hub, instance=instance) or []

    def webhook_verify(
        self, hub: Hub, instance: Instance[Any], request: WebhookRequest
    ) -> WebhookDelivery | None:
        """Verify a delivery; None when the plugin takes no webhooks."""
        return self._owner(instance.plugin).crmhub_webhook_verify(
            hub=hub, instance=instance, request=request
        )

    def webhook_process(
        self, hub: Hub, instance: Instance[Any], event: WebhookEvent
    ) -> list[CanonicalRecord]:
        """Records from a stored delivery."""
        return (
            self._owner(instance.plugin).crmhub_webhook_process(hub=hub, instance=instance, event=event)
            or []
        )

    def score_customers(
        self, hub: Hub, instance: Instance[Any], as_of: datetime
    ) -> dict[str, Any] | None:
        """Run a scorer instance."""
        return self._owner(instance.plugin).crmhub_score_customers(
            hub=hub, instance=instance, as_of=as_of
        )

    def destination(self, hub: Hub, instance: Instance[Any]) -> Destination | None:
        """The instance's destination, or None when its plugin is not a destination."""
        return self._owner(instance.plugin).crmhub_destination(hub=hub, instance=instance)

    def instance_health(self, hub: Hub, instance: Instance[Any]) -> list[dict[str, Any]]:
        """Problems the plugin reports for an instance."""
        results = self._owner(instance.plugin).crmhub_instance_health(hub=hub, instance=instance)
        return [problem for found in results for problem in found or []]

    # -- listeners ---------------------------------------------------------

    def customers_upserted(self, hub: Hub, customer_ids: list[int], source: str) -> None:
        """Tell listeners about created or changed customers."""
        if customer_ids:
            self.pm.hook.crmhub_on_customers_upserted(hub=hub, customer_ids=customer_ids, source=source)

    def customers_merged(self, hub: Hub, survivor_id: int, merged_id: int, reason: str) -> None:
        """Tell listeners about a merge."""
        self.pm.hook.crmhub_on_customers_merged(
            hub=hub, survivor_id=survivor_id, merged_id=merged_id, reason=reason
        )

    def customer_erased(self, hub: Hub, customer_id: int, destinations: list[str]) -> None:
        """Tell listeners (destinations) about an erasure."""
        self.pm.hook.crmhub_on_customer_erased(hub=hub, customer_id=customer_id, destinations=destinations)

    def orders_upserted(self, hub: Hub, order_ids: list[int], created_ids: list[int]) -> None:
        """Tell listeners about orders placed or changed."""
        if order_ids:
            self.pm.hook.crmhub_on_orders_upserted(hub=hub, order_ids=order_ids, created_ids=created_ids)

    def consent_changed(
        self, hub: Hub, customer_id: int, channel: str, granted: bool, source: str
    ) -> None:
        """Tell listeners about a consent change."""
        self.pm.hook.crmhub_on_consent_changed(
            hub=hub, customer_id=customer_id, channel=channel, granted=granted, source=source
        )

    def has_listeners(self, hook: str) -> bool:
        """Whether any plugin implements ``hook`` (so callers can skip preparing its arguments)."""
        return bool(getattr(self.pm.hook, hook).get_hookimpls())

    def segment_changed(self, hub: Hub, segment: str, entered: list[int], exited: list[int]) -> None:
        """Tell listeners about membership changes."""
        if entered or exited:
            self.pm.hook.crmhub_on_segment_changed(hub=hub, segment=segment, entered=entered, exited=exited)

    def sync_finished(self, hub: Hub, instance: Instance[Any], stream: str, run: Any) -> None:
        """Tell listeners a sync run ended."""
        self.pm.hook.crmhub_on_sync_finished(hub=hub, instance=instance, stream=stream, run=run)

    # -- extensions --------------------------------------------------------

    def register_routes(self, hub: Hub, app: fastapi.FastAPI) -> None:
        """Let plugins add HTTP routes."""
        self.pm.hook.crmhub_register_routes(hub=hub, app=app)

    def register_commands(self, cli: typer.Typer) -> None:
        """Let plugins add CLI commands."""
        self.pm.hook.crmhub_register_commands(cli=cli)

    def dashboard_panels(self, hub: Hub) -> list[dict[str, Any]]:
        """Panels plugins add to the dashboard."""
        return [panel for panels in self.pm.hook.crmhub_dashboard_panels(hub=hub) for panel in panels or []]


class _SubsetRelay:
    """``pm.hook``-like access to hooks with some plugins left out."""

    def __init__(self, pm: pluggy.PluginManager, remove: list[object]) -> None:
        self._pm = pm
        self._remove = remove

    def __getattr__(self, name: str) -> Any:
        return self._pm.subset_hook_caller(name, remove_plugins=self._remove)
