"""Settings of a scoring instance: ``[plugins.scoring.<instance>]``."""

from __future__ import annotations

from crmhub.core.instances import InstanceSettings


class ScoringSettings(InstanceSettings):
    """Scoring options (models, horizons and bins are added with the scoring plugin)."""
