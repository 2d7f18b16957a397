"""Settings of a scoring instance: ``[plugins.scoring.<instance>]``.

Every key is documented in ``config/crmhub.example.toml`` and in docs/scoring.md §10.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from crmhub.core.instances import InstanceSettings, parse_duration

PurchaseModelName = Literal["bgnbd", "mbgnbd", "pareto_nbd"]
#: The components of :data:`crmhub.plugins.scoring.models.health.HEALTH_WEIGHTS` (named here
#: so that loading the settings does not import the models; a test keeps them equal).
HEALTH_COMPONENTS = ("recency", "frequency_trend", "spend_trend", "engagement", "satisfaction", "refunds")


class ScoringSettings(InstanceSettings):
    """RFM bins, purchase and spend models, horizons, churn, health and history."""

    n_bins: int = Field(default=5, ge=2, le=10, description="RFM scores run 1..n_bins.")
    rfm_lookback: str = Field(
        default="all",
        description='Count F and M over orders of this window only, e.g. "730d" (R still '
        'uses the last order ever); "all": every order (read from customer_stats).',
    )
    time_unit: Literal["days", "weeks"] = Field(
        default="days", description="Time unit of the purchase models (alpha, beta scale with it)."
    )
    model: PurchaseModelName = Field(
        default="mbgnbd",
        description="Purchase model behind P(alive), expected purchases and CLV. MBG/NBD by "
        "default: plain BG/NBD gives every one-order customer P(alive) = 1.",
    )
    compare_models: list[PurchaseModelName] = Field(
        default_factory=lambda: list[PurchaseModelName](["bgnbd", "pareto_nbd"]),
        description="Further purchase models fitted on the same data and reported in the run "
        "summary (with log-likelihoods), not used for scores.",
    )
    horizon_days: int = Field(
        default=365, ge=1, description="Expected purchases are predicted for the next N days."
    )
    clv_months: int = Field(default=12, ge=1, le=120, description="CLV horizon in months.")
    discount_rate: float = Field(
        default=0.01, ge=0.0, lt=1.0, description="CLV discount rate per discount_per."
    )
    discount_per: Literal["month", "year"] = Field(
        default="month", description="Period of discount_rate (a yearly rate is made monthly)."
    )
    min_repeat_buyers: int = Field(
        default=30,
        ge=2,
        description="Below this many customers with a repeat purchase no model is fitted and "
        "transparent heuristics are used (the explanation says so).",
    )
    churn_model_weight: float = Field(
        default=0.5, ge=0.0, le=1.0,
        description="Weight of 1 - P(alive) in churn risk; the overdue ratio gets the rest.",
    )
    health_weights: dict[str, float] | None = Field(
        default=None,
        description="Weights of health components (recency, frequency_trend, spend_trend, "
        "engagement, satisfaction, refunds); components left out keep their documented default.",
    )
    trend_window: str = Field(
        default="90d",
        description="Health trends compare orders and spend of the last window with the one before.",
    )
    engagement_window: str = Field(
        default="180d", description="Email engagement and complaints count over this window."
    )
    history: Literal["changes", "every_run"] = Field(
        default="changes",
        description='score_history rows: "changes" (first score and whenever segment, tier or '
        'health band changes) or "every_run" (one row per customer per run).',
    )

    @field_validator("rfm_lookback", "trend_window", "engagement_window")
    @classmethod
    def _duration(cls, value: str, info: ValidationInfo) -> str:
        if info.field_name == "rfm_lookback" and value == "all":
            return value
        if parse_duration(value) < 86400:
            raise ValueError("must be at least one day, e.g. '90d'")
        return value

    @field_validator("health_weights")
    @classmethod
    def _weights(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is None:
            return None
        unknown = sorted(set(value) - set(HEALTH_COMPONENTS))
        if unknown:
            raise ValueError(f"unknown health components {unknown}; known: {list(HEALTH_COMPONENTS)}")
        if any(weight < 0 for weight in value.values()):
            raise ValueError("weights must be >= 0")
        if set(value) == set(HEALTH_COMPONENTS) and sum(value.values()) <= 0:
            raise ValueError("at least one weight must be positive")
        return value

    def days(self, name: Literal["rfm_lookback", "trend_window", "engagement_window"]) -> int | None:
        """A window setting in whole days (None when unset)."""
        value = getattr(self, name)
        return None if value == "all" else parse_duration(value) // 86400
