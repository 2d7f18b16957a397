"""The manual source: customers or orders from CSV (with a header row) or JSON lines.

Orders need ``order_id``, ``customer_email`` (or ``customer_id``), ``placed_at`` (ISO 8601
date or date-time; a date means midnight UTC), ``total`` and ``currency``. Customers need
``email`` or ``customer_id``. Other columns map to canonical fields where the names match
and are kept as attributes otherwise. Rows are read as a stream and ingested in batches;
a bad row is reported with its line number and reason and never stops the good ones.
Re-importing the same file changes nothing.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from crmhub.core.errors import InputError
from crmhub.core.records import ConsentRecord, CustomerRecord, OrderRecord

Kind = Literal["customers", "orders"]
BATCH = 2000

CUSTOMER_FIELDS = {"email", "phone", "first_name", "last_name", "tags", "created_at", "updated_at",
                   "customer_id", "accepts_marketing", "email_consent"}
ORDER_FIELDS = {"order_id", "customer_id", "customer_email", "email", "placed_at", "total", "currency",
                "status", "number", "first_name", "last_name", "phone", "subtotal", "tax", "discounts",
                "updated_at", "financial_status", "tags"}
TRUE = {"1", "true", "yes", "y", "subscribed", "opted_in"}
FALSE = {"0", "false", "no", "n", "unsubscribed", "not_subscribed", "opted_out"}


@dataclass
class Rejected:
    """A row that could not be imported."""

    line: int
    reason: str
    raw: str


@dataclass
class ImportStats:
    """Counts of one import."""

    rows: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0


def source_name(name: str | None) -> str:
    """The instance id records are attributed to: ``import.default`` or ``import.<name>``."""
    if not name:
        return "import.default"
    return name if "." in name else f"import.{name}"


def parse_time(value: str) -> datetime:
    """An ISO 8601 date (midnight UTC) or date-time (naive = UTC)."""
    text = value.strip()
    if len(text) == 10:
        return datetime.combine(datetime.fromisoformat(text).date(), time(0), tzinfo=timezone.utc)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _money(value: Any, name: str) -> Decimal:
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError(f"{name} {value!r} is not a number") from None
    if not amount.is_finite():
        raise ValueError(f"{name} {value!r} is not a number")
    return amount


def _flag(value: Any) -> bool | None:
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    return None


def _tags(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [t.strip() for t in str(value).replace(";", ",").split(",") if t.strip()]


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    return {
        str(k).strip().lower(): (v.strip() if isinstance(v, str) else v)
        for k, v in row.items()
        if k is not None and v not in (None, "")
    }


def customer_from_row(row: dict[str, Any], source: str) -> CustomerRecord:
    """Map one row to a customer record (raises ValueError with the reason)."""
    values = _clean(row)
    external = values.get("customer_id") or values.get("email")
    if not external:
        raise ValueError("needs email or customer_id")
    consent = []
    for key in ("accepts_marketing", "email_consent"):
        if key in values:
            granted = _flag(values[key])
            if granted is None:
                raise ValueError(f"{key} {values[key]!r} is not yes/no")
            consent.append(ConsentRecord(granted=granted))
    return CustomerRecord(
        instance=source,
        external_id=str(external).strip().lower() if "customer_id" not in values else str(external),
        email=values.get("email"),
        phone=values.get("phone"),
        first_name=values.get("first_name"),
        last_name=values.get("last_name"),
        tags=_tags(values["tags"]) if "tags" in values else None,
        created_at=parse_time(values["created_at"]) if "created_at" in values else None,
        source_updated_at=parse_time(values["updated_at"]) if "updated_at" in values else None,
        consent=consent,
        attributes={k: v for k, v in values.items() if k not in CUSTOMER_FIELDS},
    )


def order_from_row(row: dict[str, Any], source: str) -> OrderRecord:
    """Map one row to an order record (raises ValueError with the reason)."""
    values = _clean(row)
    missing = [k for k in ("order_id", "placed_at", "total", "currency") if k not in values]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    email = values.get("customer_email") or values.get("email")
    if not email and not values.get("customer_id"):
        raise ValueError("needs customer_email or customer_id")
    try:
        placed_at = parse_time(str(values["placed_at"]))
    except ValueError:
        raise ValueError(f"placed_at {values['placed_at']!r} is not an ISO 8601 date or date-time") from None
    currency = str(values["currency"]).upper()
    if len(currency) != 3 or not currency.isalpha():
        raise ValueError(f"currency {values['currency']!r} is not a three-letter code")
    status = str(values.get("status", "paid")).lower()
    return OrderRecord(
        instance=source,
        external_id=str(values["order_id"]),
        customer_external_id=values.get("customer_id"),
        email=email,
        phone=values.get("phone"),
        first_name=values.get("first_name"),
        last_name=values.get("last_name"),
        number=values.get("number"),
        status=status,  # type: ignore[arg-type]
        financial_status=values.get("financial_status"),
        currency=currency,
        total=_money(values["total"], "total"),
        subtotal=_money(values["subtotal"], "subtotal") if "subtotal" in values else None,
        tax=_money(values["tax"], "tax") if "tax" in values else None,
        discounts=_money(values["discounts"], "discounts") if "discounts" in values else None,
        placed_at=placed_at,
        source_updated_at=parse_time(values["updated_at"]) if "updated_at" in values else None,
        tags=_tags(values["tags"]) if "tags" in values else [],
        attributes={k: v for k, v in values.items() if k not in ORDER_FIELDS},
    )


def _rows(handle: io.TextIOBase, fmt: str) -> Iterator[tuple[int, dict[str, Any] | None, str, str | None]]:
    """Yield (line number, row or None, raw text, error) from CSV or JSON lines."""
    if fmt == "jsonl":
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, None, line.rstrip("\n"), f"invalid JSON: {exc.msg}"
                continue
            if not isinstance(value, dict):
                yield number, None, line.rstrip("\n"), "a line must be a JSON object"
                continue
            yield number, value, line.rstrip("\n"), None
        return
    reader = csv.DictReader(handle)
    if not reader.fieldnames:
        return
    previous = 1
    for row in reader:
        line = previous + 1
        previous = reader.line_num
        raw = ",".join("" if v is None else str(v) for v in row.values())
        if None in row:
            yield line, None, raw, f"{len(row[None])} more values than header columns"  # type: ignore[index]
            continue
        yield line, row, raw, None


def detect_format(path: Path, head: str) -> str:
    """``jsonl`` for .jsonl/.ndjson/.json files or a first character '{', else ``csv``."""
    if path.suffix.lower() in {".jsonl", ".ndjson", ".json"} or head.lstrip().startswith("{"):
        return "jsonl"
    return "csv"


def detect_kind(path: Path, fmt: str) -> Kind:
    """``orders`` when the first row has an ``order_id`` column, else ``customers``."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        for _, row, _, _ in _rows(handle, fmt):
            if row is not None:
                return "orders" if "order_id" in {str(k).strip().lower() for k in row} else "customers"
    return "customers"


def read_records(
    path: Path, *, kind: Kind | None = None, source: str = "import.default",
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[tuple[list[Any], list[Rejected]]]:
    """Stream batches of (records, rejected rows) from a file.

    :raises InputError: the file does not exist or is not UTF-8 text.
    """
    if not path.is_file():
        raise InputError(f"{path} does not exist")
    try:
        with open(path, encoding="utf-8-sig") as handle:
            head = handle.read(256)
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text") from None
    fmt = detect_format(path, head)
    kind = kind or detect_kind(path, fmt)
    mapper = order_from_row if kind == "orders" else customer_from_row
    records: list[Any] = []
    rejected: list[Rejected] = []
    with open(path, encoding="utf-8-sig", newline="") as handle:
        for line, row, raw, error in _rows(handle, fmt):
            if error is None and row is not None:
                try:
                    records.append(mapper(row, source))
                except (ValueError, ValidationError) as exc:
                    error = _reason(exc)
            if error is not None:
                rejected.append(Rejected(line=line, reason=error, raw=raw))
            if len(records) + len(rejected) >= BATCH:
                if on_progress is not None:
                    on_progress(len(records) + len(rejected))
                yield records, rejected
                records, rejected = [], []
    if records or rejected:
        if on_progress is not None:
            on_progress(len(records) + len(rejected))
        yield records, rejected


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}" if where else first["msg"]
    return str(exc)


def write_rejects(path: Path, rejected: list[Rejected]) -> None:
    """Write rejected rows as CSV: line, reason, row."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "reason", "row"])
        for item in rejected:
            writer.writerow([item.line, item.reason, item.raw])
