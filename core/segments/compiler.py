"""Compile a checked rule into a SQLAlchemy Core condition over ``customer``.

Nothing from the rule text ever becomes SQL text: names pick columns from the catalogue,
and every value is a bound parameter typed by its column (``Money``, ``UTCDateTime``), so
the same rule gives the same members on SQLite and PostgreSQL. One-to-one tables
(statistics, scores), windowed aggregates and existence tests (consent, sources,
purchases, interactions, segment events — as ``DISTINCT customer_id`` derived tables) are
LEFT JOINed once per distinct use, so one scan can evaluate many rules together
(:func:`evaluation_query`); only ``tags`` is a per-row ``EXISTS`` over the JSON list.

A comparison with a missing value (no score, no orders) is false, and ``not`` of it is
true: rules use two-valued logic, spelled out in SQL as ``value IS NOT NULL AND …``.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Float, Integer, String, and_, case, exists, false, func, literal, not_, or_, select
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.sql.selectable import FromClause

from crmhub.core.models import (
    Consent, Customer, CustomerScore, CustomerStats, Interaction, Order, OrderLine, SegmentEvent,
    SegmentMember, SourceIdentity,
)
from crmhub.core.segments import ast
from crmhub.core.segments.checker import CheckedRule
from crmhub.core.segments.semantics import days_bounds, literal_value, window_since
from crmhub.core.storage.types import Money, UTCDateTime

CUSTOMER = Customer.__table__
ORDER = Order.__table__
LINE = OrderLine.__table__
INTERACTION = Interaction.__table__
OPS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
       ">=": operator.ge}


def valid_orders(order: Any = ORDER) -> ColumnElement[bool]:
    """Orders that count: not deleted, cancelled or failed (as in customer statistics)."""
    return and_(order.c.deleted_at.is_(None), order.c.cancelled_at.is_(None),
                order.c.status.not_in(("cancelled", "failed")))


def _bind(value: Any, value_type: str) -> ColumnElement[Any]:
    if value_type == "money":
        return literal(value, Money())
    if value_type == "datetime":
        return literal(value, UTCDateTime())
    if value_type == "string":
        return literal(value, String())
    if isinstance(value, int):
        return literal(value, Integer())
    return literal(value, Float())


@dataclass
class SqlContext:
    """State of one compilation: the clock, the dialect and the LEFT JOINs needed."""

    now: datetime
    dialect: str
    joins: dict[Any, tuple[FromClause, ColumnElement[bool]]] = field(default_factory=dict)

    def joined(self, key: Any, build: Any) -> FromClause:
        """The alias joined under ``key``, built (and joined on customer id) on first use."""
        if key not in self.joins:
            alias = build().alias(f"j{len(self.joins) + 1}")
            self.joins[key] = (alias, alias.c.customer_id == CUSTOMER.c.id)
        return self.joins[key][0]

    def present(self, key: Any, ids: Select[Any]) -> ColumnElement[bool]:
        """A condition true for customers whose id ``ids`` selects (each id at most once)."""
        return self.joined(key, ids.subquery).c.customer_id.is_not(None)

    def window(self, column: Any, term: ast.Term) -> list[ColumnElement[bool]]:
        """``since <= column <= now`` for a term's window (nothing without one)."""
        since = window_since(term.window, self.now)
        if since is None:
            return []
        return [column >= literal(since, UTCDateTime()), column <= literal(self.now, UTCDateTime())]


def _orders_window(ctx: SqlContext, term: ast.Term) -> FromClause:
    def build() -> Any:
        return (select(ORDER.c.customer_id, func.count().label("n"), func.sum(ORDER.c.net_total_base).label("s"))
                .where(valid_orders(), *ctx.window(ORDER.c.placed_at, term)).group_by(ORDER.c.customer_id)
                .subquery())
    return ctx.joined(("orders", window_since(term.window, ctx.now)), build)


def _interaction_kind(term: ast.Term) -> str:
    return term.spec.params.get("kind") or term.arguments[0]


def _interaction(ctx: SqlContext, term: ast.Term) -> ColumnElement[Any]:
    kind, measure = _interaction_kind(term), term.spec.params["measure"]
    i = INTERACTION
    where = [i.c.kind == literal(kind, String()), *ctx.window(i.c.occurred_at, term)]
    key = (measure, kind, window_since(term.window, ctx.now))
    if measure == "any":
        return ctx.present(key, select(i.c.customer_id).where(*where).distinct())
    if measure == "count":
        alias = ctx.joined(key, lambda: select(i.c.customer_id, func.count().label("v")).where(*where)
                           .group_by(i.c.customer_id).subquery())
        return func.coalesce(alias.c.v, 0)
    if measure == "last_at":
        alias = ctx.joined(key, lambda: select(i.c.customer_id, func.max(i.c.occurred_at).label("v"))
                           .where(*where).group_by(i.c.customer_id).subquery())
        return alias.c.v
    def latest() -> Any:
        ranked = select(i.c.customer_id, i.c.value.label("v"), func.row_number().over(
            partition_by=i.c.customer_id, order_by=(i.c.occurred_at.desc(), i.c.id.desc())).label("rn")
        ).where(i.c.value.is_not(None), *where).subquery()
        return select(ranked.c.customer_id, ranked.c.v).where(ranked.c.rn == 1).subquery()
    return ctx.joined(key, latest).c.v


def value_of(ctx: SqlContext, term: ast.Term) -> ColumnElement[Any]:
    """The SQL expression of a term (a boolean condition for boolean terms)."""
    spec, params = term.spec, term.spec.params
    source = spec.source
    if source == "customer":
        return CUSTOMER.c[params["column"]]
    if source == "created":
        return func.coalesce(CUSTOMER.c.source_created_at, CUSTOMER.c.created_at, type_=UTCDateTime())
    if source in ("stats", "days_since"):
        if term.window is not None:
            alias = _orders_window(ctx, term)
            column = alias.c.n if params["aggregate"] == "count" else alias.c.s
            return func.coalesce(column, 0, type_=Money() if spec.type == "money" else Integer())
        stats = ctx.joined("stats", lambda: CustomerStats.__table__)
        column = stats.c[params["column"]]
        if "default" in params:
            return func.coalesce(column, 0, type_=Money() if spec.type == "money" else Integer())
        return column
    if source == "score":
        return ctx.joined("score", lambda: CustomerScore.__table__).c[params["column"]]
    if source == "consent":
        c = Consent.__table__
        return ctx.present(("consent", params["channel"]), select(c.c.customer_id).where(
            c.c.channel == params["channel"], c.c.granted.is_(True)))
    if source == "bought":
        column, wanted = LINE.c[params["column"]], term.arguments[0]
        return ctx.present(("bought", params["column"], wanted, window_since(term.window, ctx.now)), select(
            ORDER.c.customer_id).select_from(LINE.join(ORDER, LINE.c.order_id == ORDER.c.id)).where(
            column == literal(wanted, String()), valid_orders(), *ctx.window(ORDER.c.placed_at, term)).distinct())
    if source == "interaction":
        return _interaction(ctx, term)
    if source == "in_segment":
        m = SegmentMember.__table__
        return ctx.present(("in_segment", term.arguments[0]), select(m.c.customer_id).where(
            m.c.segment == literal(term.arguments[0], String())))
    if source == "segment_event":
        e = SegmentEvent.__table__
        key = ("segment_event", term.arguments[0], params["event"], window_since(term.window, ctx.now))
        return ctx.present(key, select(e.c.customer_id).where(
            e.c.segment == literal(term.arguments[0], String()), e.c.kind == params["event"],
            *ctx.window(e.c.at, term)).distinct())
    raise ValueError(f"no SQL for source {source!r}")  # pragma: no cover - catalogue and compiler agree


def _list_contains(ctx: SqlContext, term: ast.Term, value: str) -> ColumnElement[bool]:
    bound = literal(value, String())
    if term.spec.source == "sources":
        s = SourceIdentity.__table__
        return ctx.present(("sources", value), select(s.c.customer_id).where(
            s.c.instance == bound, s.c.deleted_at.is_(None)).distinct())
    function = func.json_each if ctx.dialect == "sqlite" else func.json_array_elements_text
    elements = function(CUSTOMER.c.tags).table_valued("value")
    return exists(select(literal(1)).select_from(elements).where(elements.c.value == bound))


def _days(ctx: SqlContext, term: ast.Term, op: str, number: Any) -> ColumnElement[bool]:
    column = value_of(ctx, term)
    if op == "!=":
        return and_(column.is_not(None), not_(_days(ctx, term, "==", number)))
    bounds = days_bounds(op, number, ctx.now)
    if bounds is None:
        return false()
    return and_(column.is_not(None), *(OPS[o](column, literal(b, UTCDateTime())) for o, b in bounds))


def _compare(ctx: SqlContext, term: ast.Term, op: str, value: ast.Literal) -> ColumnElement[bool]:
    spec = term.spec
    python = literal_value(value, spec.type, ctx.now)
    if spec.type == "days":
        return _days(ctx, term, op, python)
    expression = value_of(ctx, term)
    if spec.type == "boolean":
        return expression if (op == "==") == bool(python) else not_(expression)
    return and_(expression.is_not(None), OPS[op](expression, _bind(python, spec.type)))


def condition(ctx: SqlContext, node: ast.Node) -> ColumnElement[bool]:
    """The SQL condition of a checked node."""
    if isinstance(node, ast.Or):
        return or_(condition(ctx, node.left), condition(ctx, node.right))
    if isinstance(node, ast.And):
        return and_(condition(ctx, node.left), condition(ctx, node.right))
    if isinstance(node, ast.Not):
        return not_(condition(ctx, node.operand))
    if isinstance(node, ast.Truthy):
        return value_of(ctx, node.term)
    if isinstance(node, ast.Compare):
        return _compare(ctx, node.term, node.op, node.value)
    if isinstance(node, ast.InList):
        spec = node.term.spec
        if spec.type == "days":
            matched = or_(false(), *(_days(ctx, node.term, "==", v.value) for v in node.values))
            present = value_of(ctx, node.term).is_not(None)
            return and_(present, not_(matched)) if node.negated else matched
        expression = value_of(ctx, node.term)
        bound = [_bind(literal_value(v, spec.type, ctx.now), spec.type) for v in node.values]
        test = expression.not_in(bound) if node.negated else expression.in_(bound)
        return and_(expression.is_not(None), test)
    if isinstance(node, ast.Contains):
        value = node.value.value
        if node.term.spec.type == "list":
            return _list_contains(ctx, node.term, value)
        expression = value_of(ctx, node.term)
        position = func.instr(expression, literal(value, String())) if ctx.dialect == "sqlite" else \
            func.strpos(expression, literal(value, String()))
        return and_(expression.is_not(None), position > 0)
    raise ValueError(f"cannot compile {type(node).__name__}")  # pragma: no cover


def _from(ctx: SqlContext) -> FromClause:
    source: FromClause = CUSTOMER
    for alias, onclause in ctx.joins.values():
        source = source.outerjoin(alias, onclause)
    return source


def member_query(rule: CheckedRule, *, now: datetime, dialect: str) -> Select[Any]:
    """``SELECT customer.id`` of the active customers matching a checked rule."""
    ctx = SqlContext(now=now, dialect=dialect)
    where = condition(ctx, rule.tree)
    return select(CUSTOMER.c.id.label("customer_id")).select_from(_from(ctx)).where(
        CUSTOMER.c.status == "active", where)


def evaluation_query(rules: list[CheckedRule], *, now: datetime, dialect: str) -> Select[Any]:
    """One scan that evaluates several rules: ``customer_id, s0, s1, …`` (booleans) for
    every active customer matching at least one of them. Shared joins are made once."""
    ctx = SqlContext(now=now, dialect=dialect)
    conditions = [condition(ctx, rule.tree) for rule in rules]
    columns = [case((c, literal(1)), else_=literal(0)).label(f"s{n}") for n, c in enumerate(conditions)]
    return select(CUSTOMER.c.id.label("customer_id"), *columns).select_from(_from(ctx)).where(
        CUSTOMER.c.status == "active", or_(*conditions))


__all__ = ["SqlContext", "condition", "evaluation_query", "member_query", "valid_orders", "value_of"]
