"""Meaning shared by the SQL compiler and the Python evaluator: literal values, windows,
and the exact rewrite of "whole days since" comparisons into time comparisons.

Both sides compute "now" and every bound in Python from the hub's clock and bind the
results, so SQLite and PostgreSQL never use their own clocks and agree to the microsecond.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from crmhub.core.segments import ast
from crmhub.core.storage.types import to_decimal


def window_since(window: ast.Window | None, now: datetime) -> datetime | None:
    """The start of a ``within`` window (``None`` without one)."""
    if window is None:
        return None
    return now - timedelta(hours=float(window.hours))


def time_value(literal: ast.Literal, now: datetime) -> datetime:
    """A ``days_ago(N)`` or ``date("…")`` literal as an aware UTC datetime."""
    if literal.kind == "days_ago":
        return now - timedelta(days=float(literal.value))
    parsed = datetime.fromisoformat(literal.value)
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def literal_value(literal: ast.Literal, value_type: str, now: datetime) -> Any:
    """The Python value a literal is compared as, for a term of ``value_type``.

    Numbers are ints when whole and floats otherwise (as both databases compare them);
    money is a Decimal rounded to four places like the ``Money`` column type.
    """
    if value_type == "money":
        return to_decimal(literal.value)
    if value_type == "days":
        return literal.value
    if value_type == "number":
        number: Decimal = literal.value
        return int(number) if number == number.to_integral_value() else float(number)
    if value_type == "datetime":
        return time_value(literal, now)
    return literal.value


def days_since(moment: datetime, now: datetime) -> int:
    """Whole days elapsed from ``moment`` to ``now`` (floor)."""
    return (now - moment) // timedelta(days=1)


def days_bounds(op: str, number: Decimal, now: datetime) -> list[tuple[str, datetime]] | None:
    """Rewrite ``days_since(t) op number`` as conditions on ``t`` (all must hold).

    Returns ``[(op, bound), …]`` meaning ``t op bound``; ``None`` means "never true".
    ``!=`` is handled by the caller as ``not ==`` (on a present value).
    """
    def ago(days: int) -> datetime:
        return now - timedelta(days=days)

    low, high = math.floor(number), math.ceil(number)
    if op == ">":
        return [("<=", ago(low + 1))]
    if op == ">=":
        return [("<=", ago(high))]
    if op == "<":
        return [(">", ago(high))]
    if op == "<=":
        return [(">", ago(low + 1))]
    if op == "==":
        if low != high:
            return None
        return [("<=", ago(low)), (">", ago(low + 1))]
    raise ValueError(op)
