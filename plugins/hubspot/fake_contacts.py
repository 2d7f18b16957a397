"""Contacts of the fake HubSpot portal: storage, validation, upsert, merge and search.

Contacts look as the CRM v3 API returns them::

    {"id": "151", "properties": {"email": "…", "hs_object_id": "151", …},
     "createdAt": "2024-05-01T09:00:00.000Z", "updatedAt": "…", "archived": false}

Every property value is a string (or null), times are UTC with milliseconds. Only known
properties are accepted: HubSpot's standard ones, any ``crmhub_*`` property and whatever
:meth:`ContactStore.define_property` adds; an unknown name is a ``PROPERTY_DOESNT_EXIST``
validation error, as in a real portal where a property must be created first.
``lastmodifieddate`` moves only when a value really changes.

Search evaluates ``filterGroups`` (groups ORed, filters ANDed) with the v3 operators
(``EQ NEQ LT LTE GT GTE BETWEEN IN NOT_IN HAS_PROPERTY NOT_HAS_PROPERTY CONTAINS_TOKEN``);
date properties compare as instants whether the value is epoch milliseconds or ISO 8601.
"""

from __future__ import annotations

import re
from bisect import bisect_right, insort
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

__all__ = ["Contact", "ContactStore", "hs_time", "parse_instant"]

STANDARD_PROPERTIES = frozenset(
    {
        "email",
        "firstname",
        "lastname",
        "phone",
        "mobilephone",
        "company",
        "website",
        "address",
        "city",
        "state",
        "zip",
        "country",
        "jobtitle",
        "lifecyclestage",
        "hs_lead_status",
        "hs_email_optout",
        "lastmodifieddate",
        "createdate",
        "hs_object_id",
        "hs_additional_emails",
        "hs_merged_object_ids",
        "hubspot_owner_id",
        "hs_language",
        "total_revenue",
        "num_associated_deals",
        "notes_last_updated",
        "hs_timezone",
        "salutation",
        "hs_persona",
        "annualrevenue",
        "industry",
        "hs_analytics_source",
    }
)
READ_ONLY = frozenset({"lastmodifieddate", "createdate", "hs_object_id", "hs_merged_object_ids"})
DATE_PROPERTIES = frozenset({"lastmodifieddate", "createdate", "notes_last_updated"})
DEFAULT_PROPERTIES = (
    "createdate",
    "email",
    "firstname",
    "hs_object_id",
    "lastmodifieddate",
    "lastname",
)
LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def hs_time(when: datetime) -> str:
    """HubSpot's time format: UTC, milliseconds, ``Z``."""
    return (
        when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{when.microsecond // 1000:03d}Z"
    )


def parse_instant(value: Any) -> float | None:
    """Epoch seconds from epoch milliseconds (number or digits) or an ISO 8601 string."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text) / 1000.0
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def _as_string(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class Contact:
    """One contact: id, string properties, times, archived flag."""

    id: int
    properties: dict[str, str | None]
    created: datetime
    updated: datetime
    archived: bool = False
    archived_at: datetime | None = None
    updated_ts: float = field(default=0.0, repr=False)

    def as_json(self, properties: Iterable[str] | None = None) -> dict[str, Any]:
        """The contact as the API returns it, with ``properties`` (or the default set)."""
        names = list(properties) if properties else list(DEFAULT_PROPERTIES)
        props = {name: self.properties.get(name) for name in names}
        out: dict[str, Any] = {
            "id": str(self.id),
            "properties": props,
            "createdAt": hs_time(self.created),
            "updatedAt": hs_time(self.updated),
            "archived": self.archived,
        }
        if self.archived and self.archived_at is not None:
            out["archivedAt"] = hs_time(self.archived_at)
        return out


class ContactStore:
    """All contacts of the portal, with an e-mail index and id order for paging.

    Not locked itself: the fake holds its lock around every call.
    """

    def __init__(
        self, first_id: int = 101, custom_properties: Iterable[str] = (), *, strict: bool = True
    ) -> None:
        self.contacts: dict[int, Contact] = {}
        self.live_ids: list[int] = []
        self.archived_ids: list[int] = []
        self.by_email: dict[str, int] = {}
        self.merged_into: dict[int, int] = {}
        self.purged: set[int] = set()
        self.blocklist: set[str] = set()
        self.custom_properties: set[str] = set(custom_properties)
        self.strict = strict
        self.version = 0
        self._next_id = first_id

    # -- properties --------------------------------------------------------------------------

    def define_property(self, name: str) -> None:
        """Create a custom contact property (as the properties API would)."""
        self.custom_properties.add(name)

    def known(self, name: str) -> bool:
        """True when ``name`` is a property of the portal (always, when not ``strict``)."""
        if not self.strict:
            return True
        return (
            name in STANDARD_PROPERTIES
            or name.startswith("crmhub_")
            or name in self.custom_properties
        )

    def problems(self, properties: dict[str, Any]) -> list[dict[str, Any]]:
        """Validation errors of a property map (unknown names, malformed e-mail)."""
        errors = []
        for name, value in properties.items():
            if not self.known(name):
                errors.append(
                    {
                        "message": f'Property "{name}" does not exist',
                        "error": "PROPERTY_DOESNT_EXIST",
                        "name": name,
                    }
                )
            elif name == "email" and value not in (None, "") and not _EMAIL.match(str(value)):
                errors.append(
                    {
                        "message": f"Email address {value} is invalid",
                        "error": "INVALID_EMAIL",
                        "name": "email",
                    }
                )
        return errors

    # -- reads -------------------------------------------------------------------------------

    def resolve(self, contact_id: int) -> Contact | None:
        """The contact with ``contact_id``, following merges to the surviving contact."""
        seen = 0
        while contact_id in self.merged_into and seen < 50:
            contact_id = self.merged_into[contact_id]
            seen += 1
        return self.contacts.get(contact_id)

    def find_email(self, email: str) -> Contact | None:
        """The live contact owning ``email`` (primary or additional), case-insensitive."""
        cid = self.by_email.get(email.strip().lower())
        return self.contacts.get(cid) if cid is not None else None

    def page(
        self, *, archived: bool, after: int | None, limit: int
    ) -> tuple[list[Contact], int | None]:
        """One page of the id-ordered list (live or archived) and the next ``after`` id."""
        ids = self.archived_ids if archived else self.live_ids
        start = bisect_right(ids, after) if after is not None else 0
        chunk = ids[start : start + limit + 1]
        more = len(chunk) > limit
        chunk = chunk[:limit]
        return [self.contacts[i] for i in chunk], (chunk[-1] if more and chunk else None)

    # -- writes ------------------------------------------------------------------------------

    def create(self, properties: dict[str, Any], now: datetime) -> Contact:
        """Create a contact with ``properties`` at ``now``."""
        cid = self._next_id
        self._next_id += 1
        props: dict[str, str | None] = {
            k: _as_string(v) for k, v in properties.items() if k not in READ_ONLY
        }
        stamp = hs_time(now)
        props.update({"hs_object_id": str(cid), "createdate": stamp, "lastmodifieddate": stamp})
        email = (props.get("email") or "").strip()
        if email:
            props["email"] = email
            self.by_email[email.lower()] = cid
        contact = Contact(cid, props, now, now, updated_ts=now.timestamp())
        self.contacts[cid] = contact
        self.live_ids.append(cid)
        self.version += 1
        return contact

    def update(self, contact: Contact, properties: dict[str, Any], now: datetime) -> bool:
        """Set ``properties``; returns True (and bumps ``lastmodifieddate``) if anything changed."""
        changed = False
        for name, value in properties.items():
            if name in READ_ONLY:
                continue
            new = _as_string(value)
            if name == "email" and new:
                new = new.strip()
            if contact.properties.get(name) != new:
                if name == "email":
                    old = contact.properties.get("email")
                    if old and self.by_email.get(old.lower()) == contact.id:
                        del self.by_email[old.lower()]
                    if new:
                        self.by_email[new.lower()] = contact.id
                contact.properties[name] = new
                changed = True
        if changed:
            self.touch(contact, now)
        return changed

    def touch(self, contact: Contact, now: datetime) -> None:
        """Move ``lastmodifieddate`` / ``updatedAt`` to ``now``."""
        contact.updated = now
        contact.updated_ts = now.timestamp()
        contact.properties["lastmodifieddate"] = hs_time(now)
        self.version += 1

    def archive(self, contact: Contact, now: datetime) -> None:
        """Move a contact to the recycle bin (``archived=true`` lists it)."""
        if contact.archived:
            return
        contact.archived = True
        contact.archived_at = now
        self.live_ids.remove(contact.id)
        insort(self.archived_ids, contact.id)
        for key in _emails_of(contact):
            if self.by_email.get(key) == contact.id:
                del self.by_email[key]
        self.version += 1

    def purge(self, contact: Contact) -> None:
        """Delete a contact permanently (a GDPR delete): no listing or search shows it again."""
        (self.archived_ids if contact.archived else self.live_ids).remove(contact.id)
        for key in _emails_of(contact):
            if self.by_email.get(key) == contact.id:
                del self.by_email[key]
        del self.contacts[contact.id]
        self.purged.add(contact.id)
        self.version += 1

    def merge(self, primary: Contact, merged: Contact, now: datetime) -> None:
        """Merge ``merged`` into ``primary``: it keeps its values and gains the other e-mail."""
        emails = [e for e in (primary.properties.get("hs_additional_emails") or "").split(";") if e]
        other = merged.properties.get("email")
        if other and other.lower() != (primary.properties.get("email") or "").lower():
            emails.append(other)
        for name, value in merged.properties.items():
            if (
                name not in READ_ONLY
                and name not in ("email", "hs_additional_emails")
                and value not in (None, "")
            ):
                if primary.properties.get(name) in (None, ""):
                    primary.properties[name] = value
        primary.properties["hs_additional_emails"] = ";".join(emails) or None
        ids = [i for i in (primary.properties.get("hs_merged_object_ids") or "").split(";") if i]
        primary.properties["hs_merged_object_ids"] = ";".join(ids + [str(merged.id)])
        self.live_ids.remove(merged.id)
        del self.contacts[merged.id]
        self.merged_into[merged.id] = primary.id
        for key in _emails_of(merged):
            if self.by_email.get(key) == merged.id:
                self.by_email[key] = primary.id
        self.touch(primary, now)

    # -- search ------------------------------------------------------------------------------

    def search(
        self, groups: list[dict[str, Any]], sorts: list[Any], query: str | None
    ) -> list[int]:
        """Ids of live contacts matching ``groups`` (ORed) and ``query``, in sort order."""
        text = (query or "").strip().lower()
        out = []
        for cid in self.live_ids:
            contact = self.contacts[cid]
            if groups and not any(
                all(_test(contact, f) for f in g.get("filters", [])) for g in groups
            ):
                continue
            if text and not any(
                text in (contact.properties.get(p) or "").lower()
                for p in ("email", "firstname", "lastname", "phone", "company")
            ):
                continue
            out.append(cid)
        if sorts:
            first = sorts[0]
            if isinstance(first, str):
                name, descending = first.lstrip("-"), first.startswith("-")
            else:
                name, descending = (
                    first.get("propertyName", "hs_object_id"),
                    first.get("direction") == "DESCENDING",
                )
            out.sort(key=lambda c: _sort_key(self.contacts[c], name), reverse=descending)
        return out


def _emails_of(contact: Contact) -> list[str]:
    """Lower-cased primary and additional e-mails of ``contact``."""
    emails = [contact.properties.get("email") or ""]
    emails += (contact.properties.get("hs_additional_emails") or "").split(";")
    return [e.strip().lower() for e in emails if e and e.strip()]


def _value(contact: Contact, name: str) -> str | None:
    if name == "lastmodifieddate":  # the property's own milliseconds, exactly
        when = contact.updated
        return str(int(when.replace(microsecond=0).timestamp()) * 1000 + when.microsecond // 1000)
    return contact.properties.get(name)


def _sort_key(contact: Contact, name: str) -> tuple[Any, ...]:
    if name == "lastmodifieddate":
        return (0, contact.updated_ts, "", contact.id)
    raw = contact.properties.get(name)
    if name in DATE_PROPERTIES:
        return (0, parse_instant(raw) or 0.0, "", contact.id)
    if name == "hs_object_id":
        return (0, float(contact.id), "", contact.id)
    return (1 if raw is None else 0, 0.0, (raw or "").lower(), contact.id)


def _compare(name: str, have: str | None, want: Any) -> float | None:
    """-1/0/1 comparing a stored value with a filter value (instants, numbers, then text)."""
    if have is None or want is None:
        return None
    if name in DATE_PROPERTIES:
        a, b = parse_instant(have), parse_instant(want)
    else:
        try:
            a, b = float(have), float(want)
        except (TypeError, ValueError):
            a = b = None
    if a is not None and b is not None:
        return (a > b) - (a < b)
    x, y = have.lower(), str(want).lower()
    return (x > y) - (x < y)


def _test(contact: Contact, flt: dict[str, Any]) -> bool:
    name = flt.get("propertyName", "")
    op = flt.get("operator", "EQ")
    have = _value(contact, name)
    if name == "email" and op in ("EQ", "IN"):
        extra = [
            e.lower()
            for e in (contact.properties.get("hs_additional_emails") or "").split(";")
            if e
        ]
        candidates = [(have or "").lower()] + extra
        if op == "EQ":
            return str(flt.get("value", "")).lower() in candidates
        return any(str(v).lower() in candidates for v in flt.get("values", []))
    if op == "HAS_PROPERTY":
        return have not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return have in (None, "")
    if op in ("IN", "NOT_IN"):
        hit = any(_compare(name, have, v) == 0 for v in flt.get("values", []))
        return hit if op == "IN" else not hit
    if op == "CONTAINS_TOKEN":
        token = str(flt.get("value", "")).lower().strip("*")
        return token in (have or "").lower()
    if op == "NOT_CONTAINS_TOKEN":
        token = str(flt.get("value", "")).lower().strip("*")
        return token not in (have or "").lower()
    if op == "BETWEEN":
        lo, hi = _compare(name, have, flt.get("value")), _compare(name, have, flt.get("highValue"))
        return lo is not None and hi is not None and lo >= 0 and hi <= 0
    result = _compare(name, have, flt.get("value"))
    if op == "NEQ":
        return result != 0
    if result is None:
        return False
    return {
        "EQ": result == 0,
        "LT": result < 0,
        "LTE": result <= 0,
        "GT": result > 0,
        "GTE": result >= 0,
    }.get(op, False)
