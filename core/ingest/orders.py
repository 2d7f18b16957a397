"""Upsert order records in bulk, resolving their customers.

An order finds its customer through the identity its source gives
(``customer_external_id``) or, for guest orders, by email/phone; a customer not seen yet is
created from the order's contact details (as of the order's time, so a later customer
record from the source wins). An order older than the stored version, or identical to it,
changes nothing; a changed order replaces its lines and refunds. An order whose customer
identity was erased keeps being updated (amounts, status) without its personal data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from crmhub.core.ingest.customers import CustomerBatch, CustomerUpserter, record_digest
from crmhub.core.models import Order, OrderLine, Refund
from crmhub.core.records import CustomerRecord, OrderRecord
from crmhub.core.storage.bulk import in_values, insert_many, insert_returning_ids, select_in, update_many

ORDER = Order.__table__
LINE = OrderLine.__table__
REFUND = Refund.__table__
NOT_REVENUE = {"cancelled", "failed"}


@dataclass
class OrderBatch:
    """Outcome of one batch of orders."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    skipped: int = 0
    order_ids: list[int] = field(default_factory=list)
    created_ids: list[int] = field(default_factory=list)
    touched_customers: set[int] = field(default_factory=set)
    customers: CustomerBatch = field(default_factory=CustomerBatch)


def customer_reference(record: OrderRecord) -> CustomerRecord:
    """The customer an order points at, as a customer record dated at the order's time.

    Orders with a source customer id use that identity; guest orders use a
    ``guest:<email>`` identity so the profile shows the store knew them.
    """
    external = record.customer_external_id
    if external is None:
        external = f"guest:{(record.email or '').strip().lower()}" if record.email else f"guest-order:{record.external_id}"
    return CustomerRecord(
        instance=record.instance,
        external_id=external,
        email=record.email,
        phone=record.phone,
        first_name=record.first_name,
        last_name=record.last_name,
        source_updated_at=record.placed_at,
    )


class OrderUpserter:
    """Upserts batches of order records in one session."""

    def __init__(
        self,
        customers: CustomerUpserter,
        *,
        base_currency: str,
        rates: dict[str, Decimal],
        warn_rate: Any = None,
    ) -> None:
        self.customers = customers
        self.session: Session = customers.session
        self.now: datetime = customers.now
        self.base_currency = base_currency
        self.rates = rates
        self.warn_rate = warn_rate

    def _net_base(self, record: OrderRecord, refunded: Decimal) -> Decimal:
        if record.status in NOT_REVENUE or record.deleted or record.cancelled_at is not None:
            return Decimal("0")
        net = max(record.total - refunded, Decimal("0"))
        if record.currency == self.base_currency:
            return net
        rate = self.rates.get(record.currency)
        if rate is None:
            if self.warn_rate is not None:
                self.warn_rate(record.currency)
            return net
        return net * rate

    def upsert(self, records: list[OrderRecord]) -> OrderBatch:
        """Upsert orders (newest version per order wins)."""
        batch = OrderBatch()
        newest: dict[tuple[str, str], OrderRecord] = {}
        for record in records:
            key = (record.instance, record.external_id)
            current = newest.get(key)
            if current is None or (record.source_updated_at or self.now) >= (current.source_updated_at or self.now):
                newest[key] = record
        existing = self._existing(list(newest.values()))
        todo: list[tuple[OrderRecord, Any, str]] = []
        for key, record in newest.items():
            row = existing.get(key)
            digest = record_digest(record)
            at = record.source_updated_at or self.now
            if row is not None and (
                row.record_hash == digest or (row.source_updated_at is not None and at < row.source_updated_at)
            ):
                batch.unchanged += 1
                continue
            if row is None and record.deleted:
                batch.skipped += 1
                continue
            todo.append((record, row, digest))
        if not todo:
            return batch
        references = self.customers.prepare([customer_reference(r) for r, _, _ in todo], weak=True)
        batch.customers = self.customers.upsert(references)
        resolved = batch.customers.customer_ids
        inserts, updates, replaced = [], [], []
        for record, row, digest in todo:
            reference = customer_reference(record)
            customer_id = resolved.get((reference.instance, reference.external_id))
            erased = customer_id is None  # the order's customer identity was erased (GDPR)
            if erased:
                if row is None:
                    batch.skipped += 1
                    continue
                customer_id = row.customer_id
            refunded = sum((refund.amount for refund in record.refunds), Decimal("0"))
            values = {
                "customer_id": customer_id, "instance": record.instance, "external_id": record.external_id,
                "customer_external_id": record.customer_external_id, "number": record.number,
                "status": record.status, "financial_status": record.financial_status,
                "currency": record.currency, "total": record.total, "subtotal": record.subtotal,
                "tax": record.tax, "discounts": record.discounts, "refunded": refunded,
                "net_total_base": self._net_base(record, refunded), "placed_at": record.placed_at,
                "cancelled_at": record.cancelled_at, "source_updated_at": record.source_updated_at or self.now,
                "record_hash": digest, "email": record.email, "tags": record.tags,
                "attributes": record.attributes, "updated_at": self.now,
                "deleted_at": self.now if record.deleted else None,
            }
            if erased:  # amounts may change; personal data must not come back
                values.update(email=None, attributes={})
            batch.touched_customers.add(customer_id)
            if row is None:
                inserts.append((record, {**values, "created_at": self.now}))
            else:
                batch.touched_customers.add(row.customer_id)
                updates.append({"id": row.id, **values})
                replaced.append((record, row.id))
                if record.deleted:
                    batch.deleted += 1
                else:
                    batch.updated += 1
        new_ids = insert_returning_ids(self.session, ORDER, [values for _, values in inserts])
        batch.created += len(new_ids)
        batch.created_ids.extend(new_ids)
        update_many(self.session, ORDER, updates)
        changed_ids = [order_id for _, order_id in replaced]
        for part in (changed_ids[i : i + 900] for i in range(0, len(changed_ids), 900)):
            self.session.execute(delete(LINE).where(in_values(self.session, LINE.c.order_id, part)))
            self.session.execute(delete(REFUND).where(in_values(self.session, REFUND.c.order_id, part)))
        pairs = list(zip([r for r, _ in inserts], new_ids)) + replaced
        self._write_children(pairs)
        batch.order_ids = new_ids + changed_ids
        return batch

    def _existing(self, records: list[OrderRecord]) -> dict[tuple[str, str], Any]:
        found: dict[tuple[str, str], Any] = {}
        by_instance: dict[str, list[str]] = {}
        for record in records:
            by_instance.setdefault(record.instance, []).append(record.external_id)
        for instance, external_ids in by_instance.items():
            statement = select(
                ORDER.c.id, ORDER.c.external_id, ORDER.c.customer_id, ORDER.c.source_updated_at, ORDER.c.record_hash
            ).where(ORDER.c.instance == instance)
            for row in select_in(self.session, statement, ORDER.c.external_id, external_ids):
                found[(instance, row.external_id)] = row
        return found

    def _write_children(self, pairs: list[tuple[OrderRecord, int]]) -> None:
        lines, refunds = [], []
        for record, order_id in pairs:
            for line in record.lines:
                lines.append({
                    "order_id": order_id, "external_id": line.external_id, "sku": line.sku,
                    "product_id": line.product_id, "title": line.title, "quantity": line.quantity,
                    "price": line.price,
                })
            for refund in record.refunds:
                refunds.append({
                    "order_id": order_id, "external_id": refund.external_id, "amount": refund.amount,
                    "created_at": refund.created_at, "reason": refund.reason,
                })
        insert_many(self.session, LINE, lines)
        insert_many(self.session, REFUND, refunds)
