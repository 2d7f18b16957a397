"""A plain-Python evaluator of checked rules: the reference the SQL compiler is tested
against (and a readable statement of what every name means).

:func:`load_facts` reads everything rules can look at into :class:`CustomerFacts`, one
per customer; :func:`matches` decides one customer. It holds every customer in memory, so
it is for tests and small hubs; refresh uses the compiled SQL.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmhub.core.models import (
    Consent, Customer, CustomerScore, CustomerStats, Interaction, Order, OrderLine, SegmentEvent,
    SegmentMember, SourceIdentity,
)
from crmhub.core.segments import ast
from crmhub.core.segments.checker import CheckedRule
from crmhub.core.segments.semantics import days_since, literal_value, window_since

OPS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
       ">=": operator.ge}
CANCELLED = ("cancelled", "failed")


@dataclass
class CustomerFacts:
    """Everything a rule can read about one customer."""

    id: int
    status: str
    fields: dict[str, Any]
    stats: dict[str, Any] | None = None
    score: dict[str, Any] | None = None
    consent: dict[str, bool] = field(default_factory=dict)
    sources: set[str] = field(default_factory=set)
    orders: list[dict[str, Any]] = field(default_factory=list)
    interactions: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    segments: set[str] = field(default_factory=set)


def load_facts(session: Session) -> dict[int, CustomerFacts]:
    """Read every customer with their statistics, scores, consent, identities, orders
    (with SKUs and product ids), interactions, segment events and memberships."""
    facts = {row.id: CustomerFacts(row.id, row.status, dict(row._mapping))
             for row in session.execute(select(Customer.__table__))}
    for stats in session.execute(select(CustomerStats.__table__)).mappings():
        facts[stats["customer_id"]].stats = dict(stats)
    for score in session.execute(select(CustomerScore.__table__)).mappings():
        facts[score["customer_id"]].score = dict(score)
    for row in session.execute(select(Consent.__table__)):
        facts[row.customer_id].consent[row.channel] = bool(row.granted)
    for row in session.execute(select(SourceIdentity.__table__)):
        if row.deleted_at is None:
            facts[row.customer_id].sources.add(row.instance)
    orders: dict[int, dict[str, Any]] = {}
    for row in session.execute(select(Order.__table__)):
        valid = row.deleted_at is None and row.cancelled_at is None and row.status not in CANCELLED
        orders[row.id] = {"placed_at": row.placed_at, "net": row.net_total_base, "valid": valid,
                          "sku": set(), "product_id": set()}
        facts[row.customer_id].orders.append(orders[row.id])
    for row in session.execute(select(OrderLine.__table__)):
        orders[row.order_id]["sku"].add(row.sku)
        orders[row.order_id]["product_id"].add(row.product_id)
    for row in session.execute(select(Interaction.__table__)):
        facts[row.customer_id].interactions.append(
            {"id": row.id, "kind": row.kind, "at": row.occurred_at, "value": row.value})
    for row in session.execute(select(SegmentEvent.__table__)):
        facts[row.customer_id].events.append({"segment": row.segment, "kind": row.kind, "at": row.at})
    for row in session.execute(select(SegmentMember.__table__)):
        facts[row.customer_id].segments.add(row.segment)
    return facts


def _within(moment: datetime, term: ast.Term, now: datetime) -> bool:
    since = window_since(term.window, now)
    return since is None or since <= moment <= now


def value(facts: CustomerFacts, term: ast.Term, now: datetime) -> Any:
    """A term's value for one customer (``None`` when missing; bool for conditions)."""
    spec, params = term.spec, term.spec.params
    source = spec.source
    if source == "customer":
        return facts.fields[params["column"]]
    if source == "created":
        return facts.fields["source_created_at"] or facts.fields["created_at"]
    if source == "tags":
        return list(facts.fields["tags"] or [])
    if source == "sources":
        return sorted(facts.sources)
    if source in ("stats", "days_since"):
        if term.window is not None:
            orders = [o for o in facts.orders if o["valid"] and _within(o["placed_at"], term, now)]
            return len(orders) if params["aggregate"] == "count" else sum((o["net"] for o in orders), Decimal(0))
        found = facts.stats.get(params["column"]) if facts.stats else None
        return params.get("default") if found is None and "default" in params else found
    if source == "score":
        return facts.score.get(params["column"]) if facts.score else None
    if source == "consent":
        return facts.consent.get(params["channel"], False)
    if source == "bought":
        wanted = term.arguments[0]
        return any(o["valid"] and wanted in o[params["column"]] and _within(o["placed_at"], term, now)
                   for o in facts.orders)
    if source == "interaction":
        kind = params.get("kind") or term.arguments[0]
        found = [i for i in facts.interactions if i["kind"] == kind and _within(i["at"], term, now)]
        measure = params["measure"]
        if measure == "any":
            return bool(found)
        if measure == "count":
            return len(found)
        if measure == "last_at":
            return max((i["at"] for i in found), default=None)
        valued = [i for i in found if i["value"] is not None]
        return max(valued, key=lambda i: (i["at"], i["id"]))["value"] if valued else None
    if source == "in_segment":
        return term.arguments[0] in facts.segments
    if source == "segment_event":
        return any(e["segment"] == term.arguments[0] and e["kind"] == params["event"] and _within(e["at"], term, now)
                   for e in facts.events)
    raise ValueError(f"no evaluation for source {source!r}")  # pragma: no cover


def _compare(facts: CustomerFacts, term: ast.Term, op: str, literal: ast.Literal, now: datetime) -> bool:
    current = value(facts, term, now)
    wanted = literal_value(literal, term.spec.type, now)
    if term.spec.type == "boolean":
        return OPS[op](bool(current), bool(wanted))
    if current is None:
        return False
    if term.spec.type == "days":
        current = days_since(current, now)
    return bool(OPS[op](current, wanted))


def evaluate(node: ast.Node, facts: CustomerFacts, now: datetime) -> bool:
    """Whether one customer satisfies a checked node (status is not looked at)."""
    if isinstance(node, ast.Or):
        return evaluate(node.left, facts, now) or evaluate(node.right, facts, now)
    if isinstance(node, ast.And):
        return evaluate(node.left, facts, now) and evaluate(node.right, facts, now)
    if isinstance(node, ast.Not):
        return not evaluate(node.operand, facts, now)
    if isinstance(node, ast.Truthy):
        return bool(value(facts, node.term, now))
    if isinstance(node, ast.Compare):
        return _compare(facts, node.term, node.op, node.value, now)
    if isinstance(node, ast.InList):
        if value(facts, node.term, now) is None:
            return False
        hit = any(_compare(facts, node.term, "==", v, now) for v in node.values)
        return not hit if node.negated else hit
    if isinstance(node, ast.Contains):
        current = value(facts, node.term, now)
        return current is not None and node.value.value in current
    raise ValueError(f"cannot evaluate {type(node).__name__}")  # pragma: no cover


def matches(rule: CheckedRule, facts: dict[int, CustomerFacts], now: datetime) -> set[int]:
    """Ids of the active customers satisfying ``rule``."""
    return {cid for cid, f in facts.items() if f.status == "active" and evaluate(rule.tree, f, now)}
