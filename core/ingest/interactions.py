"""Insert interaction records, idempotently on (instance, external id)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmhub.core.ingest.customers import CustomerBatch, CustomerUpserter
from crmhub.core.models import Interaction
from crmhub.core.records import CustomerRecord, InteractionRecord
from crmhub.core.storage.bulk import insert_ignore, select_in

INTERACTION = Interaction.__table__


@dataclass
class InteractionBatch:
    """Outcome of one batch of interactions."""

    created: int = 0
    unchanged: int = 0
    skipped: int = 0
    touched_customers: set[int] = field(default_factory=set)
    customers: CustomerBatch = field(default_factory=CustomerBatch)


def insert_interactions(customers: CustomerUpserter, records: list[InteractionRecord]) -> InteractionBatch:
    """Attach each interaction to its customer (hub id, source identity or email) and
    insert it; one already stored under the same (instance, external id) is left alone."""
    session: Session = customers.session
    batch = InteractionBatch()
    references = [
        CustomerRecord(
            instance=r.instance,
            external_id=r.customer_external_id or f"guest:{(r.email or '').strip().lower()}",
            email=r.email,
            source_updated_at=r.occurred_at,
        )
        for r in records
        if r.customer_id is None and (r.customer_external_id or r.email)
    ]
    if references:
        batch.customers = customers.upsert(customers.prepare(references, weak=True))
    known = {
        (r.instance, r.external_id)
        for r in records
        if r.external_id
    }
    stored = set()
    by_instance: dict[str, list[str]] = {}
    for instance, external_id in known:
        by_instance.setdefault(instance, []).append(external_id)
    for instance, ids in by_instance.items():
        statement = select(INTERACTION.c.instance, INTERACTION.c.external_id).where(INTERACTION.c.instance == instance)
        stored |= {(row.instance, row.external_id) for row in select_in(session, statement, INTERACTION.c.external_id, ids)}
    rows, seen = [], set()
    for record in records:
        key = (record.instance, record.external_id)
        if key in stored or key in seen:
            batch.unchanged += 1
            continue
        customer_id = record.customer_id
        if customer_id is None:
            external = record.customer_external_id or f"guest:{(record.email or '').strip().lower()}"
            customer_id = batch.customers.customer_ids.get((record.instance, external))
        if customer_id is None:
            batch.skipped += 1
            continue
        seen.add(key)
        rows.append({
            "customer_id": customer_id, "kind": record.kind, "occurred_at": record.occurred_at,
            "instance": record.instance, "external_id": record.external_id,
            "value": float(record.value) if record.value is not None else None, "data": record.data,
        })
        batch.touched_customers.add(customer_id)
    insert_ignore(session, INTERACTION, rows, ["instance", "external_id"])
    batch.created = len(rows)
    return batch
