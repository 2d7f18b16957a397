"""Upsert customer records with identity resolution, in bulk.

For a batch of :class:`CustomerRecord`:

1. records are matched to customers by source identity (instance + external id), then by
   normalised email, then by E.164 phone (a phone match is used only when the emails do
   not contradict it: two people may share a household phone);
2. records that match nothing become new customers (records in the batch that share an
   email or phone become one customer);
3. when a record links two existing customers (its identity points at one, its email at
   another) they are merged — unless an admin separated them before (merge block);
4. fields are applied per field, newest source update wins; a record older than what its
   identity last delivered, or identical to it, changes nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmhub.core.identity.fields import FieldState
from crmhub.core.identity.merge import blocked_pairs, merge_customers
from crmhub.core.identity.normalise import normalise_email, normalise_phone, region_of
from crmhub.core.models import Consent, Customer, SourceIdentity
from crmhub.core.records import CustomerRecord
from crmhub.core.storage.bulk import insert_returning_ids, select_in, update_many

CUSTOMER = Customer.__table__
IDENTITY = SourceIdentity.__table__
CONSENT = Consent.__table__

def record_digest(record: Any) -> str:
    """A digest of a record's content (its update time excluded), for no-op detection."""
    payload = record.model_dump_json(exclude={"source_updated_at"})
    return hashlib.sha1(payload.encode(), usedforsecurity=False).hexdigest()


@dataclass
class Prepared:
    """A record with its normalised contact points and effective update time."""

    record: CustomerRecord
    email: str | None
    phone: str | None
    at: datetime
    digest: str
    kind: str = "customer"
    customer_id: int | None = None
    identity: Any = None
    outcome: str = "unchanged"
    group: int = -1
    new_customer: bool = False
    weak: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.record.instance, self.record.external_id)


@dataclass
class CustomerBatch:
    """Outcome of one batch: customer id per (instance, external id) and counters."""

    customer_ids: dict[tuple[str, str], int] = field(default_factory=dict)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    skipped: int = 0
    changed_customers: set[int] = field(default_factory=set)
    merges: list[tuple[int, int, str]] = field(default_factory=list)
    consent_changes: list[tuple[int, str, bool, str]] = field(default_factory=list)


class CustomerUpserter:
    """Upserts batches of customer records in one session."""

    def __init__(self, session: Session, *, now: datetime, default_region: str) -> None:
        self.session = session
        self.now = now
        self.default_region = default_region

    # -- preparation -------------------------------------------------------

    def prepare(self, records: list[CustomerRecord], *, weak: bool = False) -> list[Prepared]:
        """Normalise and dedupe records (the newest per identity wins).

        ``weak`` records are references made from orders or interactions: they create
        missing identities and customers and offer their fields (newest wins), but never
        overwrite an identity that a customer record of the source wrote.
        """
        newest: dict[tuple[str, str], Prepared] = {}
        for record in records:
            region = region_of(record.addresses, self.default_region)
            item = Prepared(
                record=record,
                email=normalise_email(record.email),
                phone=normalise_phone(record.phone, region),
                at=record.source_updated_at or self.now,
                digest=record_digest(record),
                kind="guest" if record.external_id.startswith("guest") else "customer",
                weak=weak,
            )
            current = newest.get(item.key)
            if current is None or item.at >= current.at:
                newest[item.key] = item
        return list(newest.values())

    # -- the batch -----------------------------------------------------------

    def upsert(self, items: list[Prepared]) -> CustomerBatch:
        """Resolve, merge, create and update; returns ids and counters."""
        batch = CustomerBatch()
        if not items:
            return batch
        self._load_identities(items)
        live = [item for item in items if not self._settle_known(item, batch)]
        self._resolve_contacts(live, batch)
        self._create_customers([i for i in live if i.customer_id is None and not i.record.deleted], batch)
        self._apply_fields(live, batch)
        self._write_identities(live)
        self._apply_consent(live, batch)
        for item in items:
            if item.customer_id is not None:
                batch.customer_ids[item.key] = item.customer_id
            setattr(batch, item.outcome, getattr(batch, item.outcome) + 1)
        return batch

    def _load_identities(self, items: list[Prepared]) -> None:
        by_instance: dict[str, list[Prepared]] = {}
        for item in items:
            by_instance.setdefault(item.record.instance, []).append(item)
        for instance, group in by_instance.items():
            index = {item.record.external_id: item for item in group}
            statement = select(
                IDENTITY.c.id,
                IDENTITY.c.customer_id,
                IDENTITY.c.external_id,
                IDENTITY.c.source_updated_at,
                IDENTITY.c.record_hash,
                IDENTITY.c.erased,
                IDENTITY.c.deleted_at,
                IDENTITY.c.email,
                IDENTITY.c.fields,
            ).where(IDENTITY.c.instance == instance)
            for row in select_in(self.session, statement, IDENTITY.c.external_id, index):
                item = index[row.external_id]
                item.identity = row
                item.customer_id = row.customer_id

    def _settle_known(self, item: Prepared, batch: CustomerBatch) -> bool:
        """Handle records that need no resolution; True when the record is done."""
        identity = item.identity
        if identity is None:
            if item.record.deleted:
                item.outcome = "skipped"
                return True
            return False
        if identity.erased:
            item.outcome = "skipped"
            item.customer_id = None
            return True
        stale = identity.source_updated_at is not None and item.at < identity.source_updated_at
        if item.weak and (stale or self._adds_nothing(item)):
            item.outcome = "unchanged"
            return True
        same = not item.weak and identity.record_hash == item.digest and (
            (identity.deleted_at is not None) == item.record.deleted
        )
        if stale or same:
            item.outcome = "unchanged"
            return True
        if item.record.deleted:
            self.session.execute(
                IDENTITY.update()
                .where(IDENTITY.c.id == identity.id)
                .values(deleted_at=self.now, source_updated_at=item.at, record_hash=item.digest)
            )
            item.outcome = "deleted"
            return True
        return False

    @staticmethod
    def _adds_nothing(item: Prepared) -> bool:
        """Whether a reference only repeats what its identity's source already said."""
        known = item.identity.fields or {}
        record = item.record
        if item.email is not None and item.email != item.identity.email:
            return False
        if item.phone is not None and item.phone != normalise_phone(known.get("phone"), None):
            return False
        return all(
            value is None or value == known.get(name)
            for name, value in (("first_name", record.first_name), ("last_name", record.last_name))
        )

    def _resolve_contacts(self, items: list[Prepared], batch: CustomerBatch) -> None:
        emails = {i.email for i in items if i.email}
        phones = {i.phone for i in items if i.phone}
        by_email: dict[str, int] = {}
        by_phone: dict[str, tuple[int, str | None]] = {}
        active = select(CUSTOMER.c.id, CUSTOMER.c.email, CUSTOMER.c.phone).where(
            CUSTOMER.c.status == "active"
        )
        for row in sorted(select_in(self.session, active, CUSTOMER.c.email, emails), key=lambda r: r.id):
            by_email.setdefault(row.email, row.id)
        for row in sorted(select_in(self.session, active, CUSTOMER.c.phone, phones), key=lambda r: r.id):
            by_phone.setdefault(row.phone, (row.id, row.email))
        blocks = blocked_pairs(self.session, {*by_email.values(), *(c for c, _ in by_phone.values())})

        def phone_match(item: Prepared) -> int | None:
            found = by_phone.get(item.phone or "")
            if found is None:
                return None
            customer_id, email = found
            return customer_id if email is None or item.email is None or email == item.email else None

        for item in items:
            candidates = [c for c in (by_email.get(item.email or ""), phone_match(item)) if c is not None]
            if item.customer_id is None and candidates:
                item.customer_id = candidates[0]
                candidates = candidates[1:]
            for other in candidates:
                current = item.customer_id
                if current is None or other == current:
                    continue
                if (min(current, other), max(current, other)) in blocks:
                    continue
                survivor, merged = min(current, other), max(current, other)
                reason = f"same email {item.email}" if other == by_email.get(item.email or "") else f"same phone {item.phone}"
                merge_customers(
                    self.session, survivor_id=survivor, merged_id=merged, reason=reason,
                    matched_on="email" if reason.startswith("same email") else "phone", now=self.now,
                )
                batch.merges.append((survivor, merged, reason))
                self._remap(items, by_email, by_phone, merged, survivor)
        self._group_new(items)

    @staticmethod
    def _remap(
        items: list[Prepared],
        by_email: dict[str, int],
        by_phone: dict[str, tuple[int, str | None]],
        merged: int,
        survivor: int,
    ) -> None:
        for item in items:
            if item.customer_id == merged:
                item.customer_id = survivor
        for email, customer_id in by_email.items():
            if customer_id == merged:
                by_email[email] = survivor
        for phone, (customer_id, email) in by_phone.items():
            if customer_id == merged:
                by_phone[phone] = (survivor, email)

    @staticmethod
    def _group_new(items: list[Prepared]) -> None:
        """Records in the batch that share an email (or a phone, emails permitting) and
        match no customer will become one new customer: mark them with a shared group."""
        parent: dict[int, int] = {}

        def find(i: int) -> int:
            while parent.setdefault(i, i) != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        first_by_email: dict[str, int] = {}
        first_by_phone: dict[str, int] = {}
        new = [(n, item) for n, item in enumerate(items) if item.customer_id is None and not item.record.deleted]
        for n, item in new:
            if item.email:
                parent[find(n)] = find(first_by_email.setdefault(item.email, n))
        for n, item in new:
            if item.phone:
                other = first_by_phone.setdefault(item.phone, n)
                if other != n and (not item.email or not items[other].email):
                    parent[find(n)] = find(other)
        for n, item in new:
            item.group = find(n)

    def _create_customers(self, items: list[Prepared], batch: CustomerBatch) -> None:
        groups: dict[int, list[Prepared]] = {}
        for item in items:
            groups.setdefault(item.group, []).append(item)
        rows = []
        ordered = list(groups.values())
        for members in ordered:
            state = FieldState.empty()
            for item in sorted(members, key=lambda i: i.at):
                state.apply(item.at, item.record.instance, self._incoming(item), item.record.attributes, item.record.created_at)
            rows.append(state.insert_row(self.now))
        ids = insert_returning_ids(self.session, CUSTOMER, rows)
        for customer_id, members in zip(ids, ordered):
            batch.changed_customers.add(customer_id)
            for item in members:
                item.customer_id = customer_id
                item.outcome = "created"
                item.new_customer = True

    def _apply_fields(self, items: list[Prepared], batch: CustomerBatch) -> None:
        existing = [i for i in items if i.customer_id is not None and not i.new_customer]
        if not existing:
            return
        columns = [CUSTOMER.c.id, *(CUSTOMER.c[f] for f in FieldState.COLUMNS)]
        states = {
            row.id: FieldState.from_row(row)
            for row in select_in(self.session, select(*columns), CUSTOMER.c.id, {i.customer_id for i in existing})
        }
        for item in sorted(existing, key=lambda i: i.at):
            state = states[item.customer_id]  # type: ignore[index]
            state.apply(item.at, item.record.instance, self._incoming(item), item.record.attributes, item.record.created_at)
            item.outcome = "created" if item.identity is None else "updated"
        updates = []
        for customer_id, state in states.items():
            if state.dirty:
                updates.append({"id": customer_id, **state.update_row(self.now)})
                batch.changed_customers.add(customer_id)
        update_many(self.session, CUSTOMER, updates)

    @staticmethod
    def _incoming(item: Prepared) -> dict[str, Any]:
        record = item.record
        return {
            "email": item.email, "phone": item.phone, "first_name": record.first_name,
            "last_name": record.last_name, "tags": record.tags, "addresses": record.addresses,
        }

    def _write_identities(self, items: list[Prepared]) -> None:
        new_rows, updates = [], []
        for item in items:
            if item.customer_id is None or (item.weak and item.identity is not None):
                continue
            lineage = item.record.model_dump(
                mode="json", include={"email", "phone", "first_name", "last_name", "tags"}, exclude_none=True
            )
            if item.identity is None:
                new_rows.append({
                    "customer_id": item.customer_id, "instance": item.record.instance,
                    "external_id": item.record.external_id, "kind": item.kind, "email": item.email,
                    "fields": lineage, "record_hash": item.digest, "source_updated_at": item.at,
                    "first_seen_at": self.now, "last_seen_at": self.now, "deleted_at": None, "erased": False,
                })
            else:
                updates.append({
                    "id": item.identity.id, "customer_id": item.customer_id, "email": item.email,
                    "fields": lineage, "record_hash": item.digest, "source_updated_at": item.at,
                    "last_seen_at": self.now, "deleted_at": None,
                })
        insert_returning_ids(self.session, IDENTITY, new_rows)
        update_many(self.session, IDENTITY, updates)

    def _apply_consent(self, items: list[Prepared], batch: CustomerBatch) -> None:
        facts = [(item, consent) for item in items if item.customer_id is not None for consent in item.record.consent]
        if not facts:
            return
        current = {
            (row.customer_id, row.channel): row
            for row in select_in(
                self.session,
                select(CONSENT.c.id, CONSENT.c.customer_id, CONSENT.c.channel, CONSENT.c.granted,
                       CONSENT.c.state, CONSENT.c.level, CONSENT.c.recorded_at),
                CONSENT.c.customer_id,
                {item.customer_id for item, _ in facts},
            )
        }
        latest: dict[tuple[int, str], dict[str, Any]] = {}
        for item, consent in facts:
            recorded = consent.recorded_at or item.at
            key = (item.customer_id, consent.channel)  # type: ignore[assignment]
            candidate = {"customer_id": item.customer_id, "channel": consent.channel, "granted": consent.granted,
                         "state": consent.state, "level": consent.level, "source": item.record.instance,
                         "recorded_at": recorded}
            if key not in latest or recorded >= latest[key]["recorded_at"]:
                latest[key] = candidate
        inserts, updates = [], []
        for key, candidate in latest.items():
            row = current.get(key)
            if row is None:
                inserts.append(candidate)
            elif candidate["recorded_at"] >= row.recorded_at and (
                row.granted, row.state, row.level) != (candidate["granted"], candidate["state"], candidate["level"]):
                updates.append({"id": row.id, **{k: v for k, v in candidate.items() if k not in ("customer_id", "channel")}})
            else:
                continue
            if row is None or row.granted != candidate["granted"]:
                batch.consent_changes.append((key[0], key[1], candidate["granted"], candidate["source"]))
            batch.changed_customers.add(key[0])
        insert_returning_ids(self.session, CONSENT, inserts)
        update_many(self.session, CONSENT, updates)
