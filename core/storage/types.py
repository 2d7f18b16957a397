"""Column types that behave the same on SQLite and PostgreSQL.

- :class:`Money` keeps Decimal amounts exactly on both databases by storing integer
  ten-thousandths (SQLite has no exact decimal type; sums and comparisons in SQL must give
  identical results on both).
- :class:`UTCDateTime` stores naive UTC and always returns aware UTC datetimes.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect
from sqlalchemy.types import JSON, TypeDecorator

MONEY_SCALE = 10_000
_QUANTUM = Decimal("0.0001")


def to_decimal(value: Any) -> Decimal:
    """Convert a number or numeric string to a Decimal rounded to four places."""
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, float):
        amount = Decimal(repr(value))
    else:
        amount = Decimal(str(value))
    return amount.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)


class Money(TypeDecorator[Decimal]):
    """A Decimal amount stored exactly as a BIGINT of ten-thousandths."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        return int(to_decimal(value) * MONEY_SCALE)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(int(value)) / MONEY_SCALE).quantize(_QUANTUM)

    def coerce_compared_value(self, op: Any, value: Any) -> TypeDecorator[Decimal]:
        return self


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime, stored as naive UTC on every database."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=timezone.utc)


class JSONType(TypeDecorator[Any]):
    """Plain JSON (JSONB on PostgreSQL would also do; JSON keeps key order for lineage)."""

    impl = JSON
    cache_ok = True


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(timezone.utc)
