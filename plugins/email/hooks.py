"""Email: campaigns and flows over SMTP with consent and one-click unsubscribe. Hook implementations (its entry point in group ``crmhub.plugins``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from crmhub.core.errors import ConfigError
from crmhub.core.plugins import hookimpl
from crmhub.plugins.email import flows
from crmhub.plugins.email.settings import EmailSettings

if TYPE_CHECKING:
    import fastapi
    import typer

    from crmhub.core.destinations import Destination
    from crmhub.core.hub import Hub
    from crmhub.core.instances import Instance


@hookimpl
def crmhub_plugin_settings() -> type[EmailSettings]:
    """Instances of this plugin are validated by :class:`EmailSettings`."""
    return EmailSettings


@hookimpl
def crmhub_register_migrations() -> str:
    """The plugin's tables live in its own alembic branch ``email``."""
    return str(Path(__file__).resolve().parent / "migrations")


@hookimpl
def crmhub_register_jobs(hub: Hub) -> dict[str, Any]:
    """``email.deliver`` and ``email.send_campaign``."""
    from crmhub.plugins.email.jobs import JOBS

    return dict(JOBS)


@hookimpl
def crmhub_destination(hub: Hub, instance: Instance[EmailSettings]) -> Destination:
    """Segment pushes start (and cancel) the segment's flows."""
    from crmhub.plugins.email.destination import EmailDestination
    from crmhub.plugins.email.runtime import runtime

    return EmailDestination(hub, runtime(hub, instance.id))


@hookimpl
def crmhub_on_segment_changed(hub: Hub, segment: str, entered: list[int], exited: list[int]) -> None:
    """Enrol entered customers in the segment's flows; cancel exited customers' pending ones."""
    flows.on_segment_changed(hub, segment, entered, exited)


@hookimpl
def crmhub_on_customer_erased(hub: Hub, customer_id: int, destinations: list[str]) -> None:
    """Keep an erased customer's addresses suppressed (as hashes) and drop the rest."""
    from crmhub.plugins.email.suppression import suppress_erased

    names = sorted(instance.id for instance in hub.instances.values() if instance.plugin == "email")
    if names:
        with hub.transaction() as session:
            suppress_erased(session, customer_id, instance=names[0], now=hub.now())


@hookimpl
def crmhub_register_routes(hub: Hub, app: fastapi.FastAPI) -> None:
    """Unsubscribe, open pixel, click redirect, survey answers; the report under /api/v1."""
    from crmhub.plugins.email.routes import register_routes

    register_routes(hub, app)


@hookimpl
def crmhub_register_commands(cli: typer.Typer) -> None:
    """``crmhub email send|preview|report|deliver|suppressions|suppress|unsuppress``."""
    from crmhub.plugins.email.cli import register

    register(cli)


@hookimpl
def crmhub_instance_health(hub: Hub, instance: Instance[EmailSettings]) -> list[dict[str, Any]]:
    """Configuration problems: templates, segments, unsubscribe targets."""
    from crmhub.plugins.email.runtime import runtime

    problems: list[dict[str, Any]] = []
    try:
        runtime(hub, instance.id)
    except ConfigError as exc:
        problems.append({"level": "error", "message": exc.message})
    settings = instance.settings
    for kind, table in (("campaign", settings.campaigns), ("flow", settings.flows)):
        for name, step in table.items():
            if step.segment not in hub.settings.segments:
                problems.append({"level": "error", "message": f"{kind} {name!r}: segment {step.segment!r} is not configured"})
    if not hub.settings.hub.public_url.startswith("https://"):
        problems.append({"level": "warning", "message": "[hub] public_url is not https: mail clients offer "
                         "one-click unsubscribe (RFC 8058) only for an HTTPS link"})
    if not settings.unsubscribe_mailto:
        problems.append({"level": "warning", "message": "unsubscribe_mailto is not set: List-Unsubscribe "
                         "carries only the HTTPS link"})
    return problems
