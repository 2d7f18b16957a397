"""The ingest service every source, webhook and import uses.

``Ingestor.ingest(session, records)`` upserts a batch of canonical records inside the
caller's transaction (so a sync can commit its cursor with them) and returns counts;
``Ingestor.notify(result)`` tells listener plugins after the caller committed.

Guarantees: identity resolution (source identity → email → E.164 phone), merges recorded
in the ledger, newest source update wins per field, and idempotency — the same record
twice, or an older version after a newer one, leaves the state of the newest once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.orm import Session

from crmhub.core.ingest.actions import ActionBatch, apply_erasures, apply_merges
from crmhub.core.ingest.customers import CustomerUpserter
from crmhub.core.ingest.interactions import insert_interactions
from crmhub.core.ingest.orders import OrderUpserter
from crmhub.core.ingest.stats import refresh_stats
from crmhub.core.records import (
    CanonicalRecord,
    CustomerRecord,
    ErasureRecord,
    InteractionRecord,
    MergeRecord,
    OrderRecord,
)

if TYPE_CHECKING:
    from crmhub.core.hub import Hub

log = logging.getLogger("crmhub.ingest")


@dataclass
class IngestResult:
    """What one ingest did, counted per record."""

    source: str = ""
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    skipped: int = 0
    customer_ids: set[int] = field(default_factory=set)
    order_ids: list[int] = field(default_factory=list)
    created_order_ids: list[int] = field(default_factory=list)
    merges: list[tuple[int, int, str]] = field(default_factory=list)
    erased: list[int] = field(default_factory=list)
    consent_changes: list[tuple[int, str, bool, str]] = field(default_factory=list)

    @property
    def written(self) -> int:
        """Records that changed something."""
        return self.created + self.updated + self.deleted

    def add(self, other: IngestResult) -> None:
        """Accumulate another result into this one."""
        for name in ("created", "updated", "unchanged", "deleted", "skipped"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.customer_ids |= other.customer_ids
        self.order_ids += other.order_ids
        self.created_order_ids += other.created_order_ids
        self.merges += other.merges
        self.erased += other.erased
        self.consent_changes += other.consent_changes


class Ingestor:
    """Upserts canonical records for one hub."""

    #: On PostgreSQL, planner statistics are refreshed once the rows written since the last
    #: ANALYZE pass 10% of the hot tables (at least 1,000 rows), so a first sync into empty
    #: tables does not run on plans made for empty tables (sequential scans per key).
    HOT_TABLES = ("customer", "source_identity", '"order"', "order_line", "customer_stats", "consent")

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._warned_currencies: set[str] = set()
        self._written_since_analyze = 0
        self._analyze_threshold = 1_000

    def _maybe_analyze(self, written: int) -> None:
        if self.hub.dialect != "postgresql":
            return
        self._written_since_analyze += written
        if self._written_since_analyze < self._analyze_threshold:
            return
        self._written_since_analyze = 0
        with self.hub.engine.connect() as connection:
            connection.execute(text(f"ANALYZE {', '.join(self.HOT_TABLES)}"))
            rows = connection.execute(text(
                "SELECT coalesce(sum(greatest(reltuples, 0)), 0) FROM pg_class "
                "WHERE relname IN ('customer', 'source_identity', 'order')"
            )).scalar_one()
            connection.commit()
        self._analyze_threshold = max(1_000, int(rows) // 10)

    def _warn_rate(self, currency: str) -> None:
        if currency not in self._warned_currencies:
            self._warned_currencies.add(currency)
            log.warning(
                "no exchange rate for %s; counting its orders at face value in %s "
                "(set [hub] exchange_rates)", currency, self.hub.settings.hub.base_currency,
            )

    def ingest(self, session: Session, records: list[CanonicalRecord], *, source: str = "") -> IngestResult:
        """Upsert ``records`` in ``session`` (the caller commits).

        :param session: an open session; nothing is committed here.
        :param records: customers, orders, interactions, merges and erasures, in any mix;
            merges and erasures apply after the other records of the batch.
        :param source: the instance they came from, for listeners and logs.
        """
        now = self.hub.now()
        settings = self.hub.settings.hub
        customers = CustomerUpserter(session, now=now, default_region=settings.default_region)
        result = IngestResult(source=source)
        customer_records = [r for r in records if isinstance(r, CustomerRecord)]
        order_records = [r for r in records if isinstance(r, OrderRecord)]
        interaction_records = [r for r in records if isinstance(r, InteractionRecord)]

        batches = []
        if customer_records:
            batch = customers.upsert(customers.prepare(customer_records))
            batches.append(batch)
            for name in ("created", "updated", "unchanged", "deleted", "skipped"):
                setattr(result, name, getattr(result, name) + getattr(batch, name))
        touched: set[int] = set()
        if order_records:
            orders = OrderUpserter(
                customers, base_currency=settings.base_currency, rates=settings.exchange_rates,
                warn_rate=self._warn_rate,
            ).upsert(order_records)
            batches.append(orders.customers)
            for name in ("created", "updated", "unchanged", "deleted", "skipped"):
                setattr(result, name, getattr(result, name) + getattr(orders, name))
            result.order_ids = orders.order_ids
            result.created_order_ids = orders.created_ids
            touched |= orders.touched_customers
        if interaction_records:
            interactions = insert_interactions(customers, interaction_records)
            batches.append(interactions.customers)
            result.created += interactions.created
            result.unchanged += interactions.unchanged
            result.skipped += interactions.skipped
            result.customer_ids |= interactions.touched_customers
        actions = ActionBatch()
        apply_merges(session, [r for r in records if isinstance(r, MergeRecord)], now, actions)
        apply_erasures(session, [r for r in records if isinstance(r, ErasureRecord)], now, actions)
        result.merges += actions.merges
        result.erased = actions.erasures
        result.updated += len(actions.merges) + len(actions.erasures)
        result.unchanged += actions.unchanged
        for batch in batches:
            result.customer_ids |= batch.changed_customers
            result.merges += batch.merges
            result.consent_changes += batch.consent_changes
        touched |= {survivor for survivor, _, _ in result.merges}
        touched |= {cid for cid in result.customer_ids}
        refresh_stats(session, touched, now)
        result.customer_ids |= touched
        self._maybe_analyze(result.created + result.updated)
        return result

    def notify(self, result: IngestResult) -> None:
        """Tell listener plugins what an ingest changed (call after commit)."""
        hooks = self.hub.plugins
        for survivor, merged, reason in result.merges:
            hooks.customers_merged(self.hub, survivor, merged, reason)
        hooks.customers_upserted(self.hub, sorted(result.customer_ids), result.source)
        hooks.orders_upserted(self.hub, result.order_ids, result.created_order_ids)
        for customer_id, channel, granted, source in result.consent_changes:
            hooks.consent_changed(self.hub, customer_id, channel, granted, source)

    def ingest_and_commit(self, records: list[CanonicalRecord], *, source: str = "") -> IngestResult:
        """Ingest in a transaction of its own, commit, then notify listeners."""
        with self.hub.transaction() as session:
            result = self.ingest(session, records, source=source)
        self.notify(result)
        return result


def ingestor(hub: Hub) -> Ingestor:
    """The hub's ingest service."""
    return hub.service("ingest", Ingestor)
