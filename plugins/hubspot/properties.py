"""What crmhub writes on a HubSpot contact: its segments and scores as contact properties.

- the segments property (``crmhub_segments``) holds the names of the segments *routed to
  this instance* that the customer is in, sorted, separated by ``;`` (the format of a
  multiple-checkbox property; a text property shows it as is);
- each configured score property receives the customer's value: text as is, numbers
  rounded to 2 decimals (so a re-score that moves a CLV by a fraction of a cent pushes
  nothing), times in ISO 8601 UTC, lists ``;``-separated, a missing value as ``""`` (which
  clears the property).

When a customer leaves a segment, the segments property is rewritten from the segments
they are still in — and still eligible for: an active customer with an email and email
consent. Once none remain, the score properties are cleared as well: the contact no
longer carries crmhub data (HubSpot keeps the contact itself).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from crmhub.core.models import Consent, Customer, SegmentMember
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

CUSTOMER = Customer.__table__
MEMBER = SegmentMember.__table__
CONSENT = Consent.__table__
CENT = Decimal("0.01")


def format_value(value: Any) -> str:
    """A property value as HubSpot stores it (a string; ``""`` clears)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    if isinstance(value, float | Decimal):
        if isinstance(value, float) and not math.isfinite(value):
            return ""
        try:
            return format(Decimal(str(value)).quantize(CENT), "f")
        except InvalidOperation:
            return ""
    return str(value)


def segment_value(names: Iterable[str]) -> str:
    """The segments property's value for these segment names."""
    return ";".join(sorted(set(names)))


class ContactProperties:
    """Builds property maps for one instance.

    :param segments_property: name of the segments property.
    :param score_properties: crmhub field → HubSpot property.
    :param routed: names of the segments routed to the instance.
    """

    def __init__(self, segments_property: str, score_properties: Mapping[str, str], routed: Iterable[str]) -> None:
        self.segments_property = segments_property
        self.score_properties = dict(score_properties)
        self.routed = frozenset(routed)

    def for_member(self, customer: Mapping[str, Any]) -> dict[str, str]:
        """The properties of a segment member (``customer`` as the segments engine gives it:
        fields, scores and ``segments``)."""
        names = [s for s in customer.get("segments", []) if s in self.routed]
        properties = {self.segments_property: segment_value(names)}
        for field, prop in self.score_properties.items():
            properties[prop] = format_value(customer.get(field))
        return properties

    def after_removal(self, remaining: list[str]) -> dict[str, str]:
        """The properties of a contact that left a segment and is still in ``remaining``."""
        properties = {self.segments_property: segment_value(remaining)}
        if not remaining:
            properties.update({prop: "" for prop in self.score_properties.values()})
        return properties

    def remaining_segments(self, session: Session, customer_ids: Iterable[int], leaving: str) -> dict[int, list[str]]:
        """Routed segments other than ``leaving`` that eligible customers are still in."""
        ids = sorted(set(customer_ids))
        wanted = sorted(self.routed - {leaving})
        found: dict[int, list[str]] = {customer_id: [] for customer_id in ids}
        if not ids or not wanted:
            return found
        consented = exists().where(
            CONSENT.c.customer_id == CUSTOMER.c.id, CONSENT.c.channel == "email", CONSENT.c.granted.is_(True)
        )
        rows = session.execute(
            select(MEMBER.c.customer_id, MEMBER.c.segment)
            .join(CUSTOMER, CUSTOMER.c.id == MEMBER.c.customer_id)
            .where(MEMBER.c.customer_id.in_(ids), MEMBER.c.segment.in_(wanted), CUSTOMER.c.status == "active",
                   CUSTOMER.c.email.is_not(None), consented)
        )
        for customer_id, segment in rows:
            found[customer_id].append(segment)
        return found
