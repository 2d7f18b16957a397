"""Scoring: RFM, purchase models, CLV, churn risk and health. Hook implementations (its entry point in group ``crmhub.plugins``)."""

from __future__ import annotations

from crmhub.core.plugins import hookimpl
from crmhub.plugins.scoring.settings import ScoringSettings


@hookimpl
def crmhub_plugin_settings() -> type[ScoringSettings]:
    """Instances of this plugin are validated by :class:`ScoringSettings`."""
    return ScoringSettings
