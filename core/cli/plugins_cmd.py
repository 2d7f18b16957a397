"""``crmhub plugins``: discovered plugins, their instances, hooks and config validity."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from crmhub.core.cli.context import cli_context
from crmhub.core.cli.output import console, print_json, print_table
from crmhub.core.errors import ConfigError, CrmhubError
from crmhub.core.hub import create_hub
from crmhub.core.instances import build_instances
from crmhub.core.plugins import load_plugins


def plugin_report(ctx: typer.Context) -> dict[str, Any]:
    """What ``crmhub plugins --json`` prints: plugins, instances and config problems."""
    hooks = load_plugins()
    report: dict[str, Any] = {"config_valid": True, "config_error": None, "plugins": []}
    instances: dict[str, Any] = {}
    try:
        settings = cli_context(ctx).settings()
        instances = build_instances(settings.plugins, hooks.settings_models())
    except ConfigError as exc:
        report.update(config_valid=False, config_error=exc.message)
    health: dict[str, list[dict[str, Any]]] = {}
    if report["config_valid"] and instances:
        try:
            hub = create_hub(cli_context(ctx).settings(), plugins=hooks)
            for instance in hub.enabled_instances():
                try:
                    health[instance.id] = hooks.instance_health(hub, instance)
                except CrmhubError as exc:
                    health[instance.id] = [{"level": "error", "message": exc.message}]
            hub.close()
        except ConfigError as exc:
            report.update(config_valid=False, config_error=exc.message)
    for info in hooks.info():
        report["plugins"].append({
            "name": info.name,
            "module": info.module,
            "distribution": info.distribution,
            "version": info.version,
            "description": info.description,
            "hooks": info.hooks,
            "instances": [
                {"id": i.id, "enabled": i.enabled, "health": health.get(i.id, [])}
                for i in instances.values() if i.plugin == info.name
            ],
        })
    return report


def register(app: typer.Typer) -> None:
    """Add the ``plugins`` command."""

    @app.command("plugins")
    def plugins(ctx: typer.Context, json_output: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
        """List discovered plugins, their instances, hooks and whether the config is valid."""
        report = plugin_report(ctx)
        if json_output:
            print_json(report)
        else:
            rows = []
            for plugin in report["plugins"]:
                names = ", ".join(
                    i["id"] + ("" if i["enabled"] else " (disabled)") + ("" if not i["health"] else " ⚠")
                    for i in plugin["instances"]
                )
                rows.append((plugin["name"], plugin["version"] or "", names or "-", ", ".join(
                    h.removeprefix("crmhub_") for h in plugin["hooks"])))
            print_table("plugins", ["plugin", "version", "instances", "hooks"], rows)
            for plugin in report["plugins"]:
                for instance in plugin["instances"]:
                    for problem in instance["health"]:
                        console.print(f"[yellow]{instance['id']}[/yellow]: {problem['message']}")
            if report["config_valid"]:
                console.print("config: valid")
            else:
                console.print(f"[red]config: {report['config_error']}[/red]")
        if not report["config_valid"]:
            raise typer.Exit(2)
