"""Scoring: RFM, purchase models, CLV, churn risk and health. Hook implementations (its entry point in group ``crmhub.plugins``).

The models and the database code are imported when first used, so loading the plugin
(every ``crmhub`` command does) stays cheap.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from crmhub.core.plugins import hookimpl
from crmhub.plugins.scoring.settings import ScoringSettings

if TYPE_CHECKING:
    import typer

    from crmhub.core.hub import Hub
    from crmhub.core.instances import Instance


@hookimpl
def crmhub_plugin_settings() -> type[ScoringSettings]:
    """Instances of this plugin are validated by :class:`ScoringSettings`."""
    return ScoringSettings


@hookimpl
def crmhub_score_customers(hub: Hub, instance: Instance[Any], as_of: datetime) -> dict[str, Any]:
    """Score every customer as of ``as_of`` (see :mod:`crmhub.plugins.scoring.run`)."""
    from crmhub.plugins.scoring.run import score_instance

    return score_instance(hub, instance, as_of)


@hookimpl
def crmhub_register_commands(cli: typer.Typer) -> None:
    """``crmhub score [--as-of DATE]`` and ``crmhub score rebuild-stats``."""
    from crmhub.plugins.scoring.cli import register

    register(cli)


@hookimpl
def crmhub_register_jobs(hub: Hub) -> dict[str, Any]:
    """``scoring.run``: score one instance (``instance``, ``as_of``)."""
    from crmhub.plugins.scoring.jobs import run_scoring

    return {"scoring.run": run_scoring}
