"""The catalogue of names a segment rule can use, with their types.

Each :class:`NameSpec` says what a name means (its ``source``: which table and column, or
which aggregate), its type, which arguments it takes and whether it accepts a
``within N days`` window. The SQL compiler and the plain-Python evaluator both dispatch
on ``source`` — one meaning, two implementations that the tests hold equal.

Types: ``number``, ``money`` (exact Decimal amounts), ``days`` (whole days since a time,
compared with numbers), ``string``, ``boolean``, ``datetime``, ``list`` (of strings).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ValueType = str  # "number" | "money" | "days" | "string" | "boolean" | "datetime" | "list"


@dataclass(frozen=True)
class NameSpec:
    """One name of the rule language."""

    key: str
    type: ValueType
    description: str
    source: str
    params: dict[str, Any] = field(default_factory=dict)
    arguments: tuple[str, ...] = ()
    window: bool = False
    example: str = ""


def _spec(key: str, type_: ValueType, source: str, description: str, example: str = "", *,
          arguments: tuple[str, ...] = (), window: bool = False, **params: Any) -> NameSpec:
    return NameSpec(key, type_, description, source, params, arguments, window, example)


CATALOGUE: dict[str, NameSpec] = {spec.key: spec for spec in [
    # -- the customer ------------------------------------------------------------------
    _spec("email", "string", "customer", "Normalised email address.", 'email contains "@example.com"', column="email"),
    _spec("phone", "string", "customer", "Phone number in E.164.", 'phone contains "+44"', column="phone"),
    _spec("first_name", "string", "customer", "First name.", 'first_name == "Ann"', column="first_name"),
    _spec("last_name", "string", "customer", "Last name.", 'last_name == "Lee"', column="last_name"),
    _spec("tags", "list", "tags", "The customer's tags (exact, case-sensitive).", 'tags contains "vip"'),
    _spec("sources", "list", "sources", "Instances the customer is known in (identities not deleted there).",
          '"shopify.main" in sources'),
    _spec("created_at", "datetime", "created", "When the customer was created at the source (else in the hub).",
          "created_at > days_ago(30)"),
    _spec("consent.email", "boolean", "consent", "Email marketing consent granted.", "consent.email", channel="email"),
    _spec("consent.sms", "boolean", "consent", "SMS marketing consent granted.", "consent.sms", channel="sms"),
    # -- order statistics --------------------------------------------------------------
    _spec("orders_count", "number", "stats", "Orders placed (not cancelled, failed or deleted); with a window, "
          "orders placed in it.", "orders_count within 30 days >= 2", column="orders_count", default=0,
          window=True, aggregate="count"),
    _spec("total_spent", "money", "stats", "Revenue net of refunds in the base currency; with a window, of the "
          "orders placed in it.", "total_spent > 500", column="total_spent", default=0, window=True,
          aggregate="sum"),
    _spec("refunded_total", "money", "stats", "Money refunded, in the base currency.", "refunded_total > 0",
          column="refunded_total", default=0),
    _spec("first_order_at", "datetime", "stats", "Time of the first order (missing without orders).",
          "first_order_at > days_ago(30)", column="first_order_at"),
    _spec("last_order_at", "datetime", "stats", "Time of the latest order (missing without orders).",
          "last_order_at < days_ago(90)", column="last_order_at"),
    _spec("days_since_last_order", "days", "days_since", "Whole days since the latest order.",
          "days_since_last_order > 180", column="last_order_at"),
    _spec("days_since_first_order", "days", "days_since", "Whole days since the first order.",
          "days_since_first_order <= 30", column="first_order_at"),
    _spec("bought()", "boolean", "bought", "Bought a SKU (in an order that counts).", 'bought("SKU-1") within 90 days',
          arguments=("string",), window=True, column="sku"),
    _spec("bought_product()", "boolean", "bought", "Bought a product, by the source's product id.",
          'bought_product("8123")', arguments=("string",), window=True, column="product_id"),
    # -- scores ------------------------------------------------------------------------
    _spec("rfm.r", "number", "score", "Recency digit 1–5 (5 = most recent).", "rfm.r >= 4", column="r"),
    _spec("rfm.f", "number", "score", "Frequency digit 1–5.", "rfm.f >= 4", column="f"),
    _spec("rfm.m", "number", "score", "Monetary digit 1–5.", "rfm.m >= 4", column="m"),
    _spec("rfm.segment", "string", "score", "RFM segment name (Champions, Loyal, At Risk, Can't Lose Them, …).",
          'rfm.segment in ("Champions", "Loyal")', column="rfm_segment"),
    _spec("tier", "string", "score", "Value tier (core, potential, ordinary, churned).", 'tier == "core"',
          column="tier"),
    _spec("clv", "money", "score", "Predicted customer lifetime value, base currency.", "clv > 200", column="clv"),
    _spec("p_alive", "number", "score", "Probability the customer is still active (0–1).", "p_alive < 0.3",
          column="p_alive"),
    _spec("churn_risk", "number", "score", "Churn risk (0–1).", "churn_risk > 0.7", column="churn_risk"),
    _spec("health", "number", "score", "Health score (0–100).", "health < 40", column="health"),
    _spec("health_band", "string", "score", "Health band (e.g. green, amber, red).", 'health_band == "red"',
          column="health_band"),
    _spec("expected_purchases", "number", "score", "Purchases expected over the scoring horizon.",
          "expected_purchases >= 1", column="expected_purchases"),
    # -- interactions ------------------------------------------------------------------
    _spec("interaction()", "boolean", "interaction", "Had an interaction of this kind.",
          'interaction("support_ticket") within 30 days', arguments=("string",), window=True, measure="any"),
    _spec("interaction().count", "number", "interaction", "Number of interactions of this kind.",
          'interaction("email_clicked").count within 30 days >= 3', arguments=("string",), window=True,
          measure="count"),
    _spec("interaction().value", "number", "interaction", "Value of the latest interaction of this kind that "
          "has one (e.g. a survey answer).", 'interaction("survey_answer").value within 90 days <= 6',
          arguments=("string",), window=True, measure="value"),
    _spec("interaction().last_at", "datetime", "interaction", "Time of the latest interaction of this kind.",
          'interaction("email_opened").last_at < days_ago(60)', arguments=("string",), window=True,
          measure="last_at"),
    _spec("opened_email", "boolean", "interaction", 'Opened an email (interaction("email_opened")).',
          "opened_email within 30 days", window=True, measure="any", kind="email_opened"),
    _spec("clicked_email", "boolean", "interaction", 'Clicked a link in an email (interaction("email_clicked")).',
          "clicked_email within 30 days", window=True, measure="any", kind="email_clicked"),
    _spec("nps", "number", "interaction", 'Latest NPS/survey answer (interaction("survey_answer").value).',
          "nps <= 6", window=True, measure="value", kind="survey_answer"),
    # -- segments ----------------------------------------------------------------------
    _spec("in_segment()", "boolean", "in_segment", "Currently a member of another segment (refreshed first).",
          'in_segment("vip")', arguments=("segment",)),
    _spec("entered()", "boolean", "segment_event", "Entered a segment.", 'entered("vip") within 7 days',
          arguments=("segment",), window=True, event="entered"),
    _spec("exited()", "boolean", "segment_event", "Exited a segment.", 'exited("vip") within 30 days',
          arguments=("segment",), window=True, event="exited"),
]}

#: Names a rule may use that refer to other segments (their refresh must come first).
SEGMENT_SOURCES = {"in_segment", "segment_event"}


def lookup(key: str) -> NameSpec | None:
    """The catalogue entry for a term key such as ``rfm.segment`` or ``interaction().value``."""
    return CATALOGUE.get(key)


def suggestions(key: str) -> list[str]:
    """Catalogue keys close to a misspelled one."""
    import difflib

    return difflib.get_close_matches(key, list(CATALOGUE), n=3, cutoff=0.6)
