"""HubSpot contacts → canonical customer records.

===================  ==========================================================
HubSpot property     canonical field
===================  ==========================================================
``email``            ``email`` (the identity resolution key across sources)
``phone``            ``phone`` (normalised to E.164 by the ingest)
``firstname``        ``first_name``;  ``lastname`` → ``last_name``
``lifecyclestage``   attribute ``lifecycle_stage``
``hs_email_optout``  ``"true"``: email consent withdrawn, recorded at ``lastmodifieddate``
``createdate``       ``created_at``
``lastmodifieddate`` ``source_updated_at`` (newest update wins)
archived             ``deleted=True``
===================  ==========================================================

``hs_email_optout = "false"`` grants nothing: it only means the contact has not opted out
of all email, not that they agreed to marketing (HubSpot keeps that in subscription
types), so crmhub keeps whatever consent another source recorded. Contacts merged away in
HubSpot (``hs_merged_object_ids`` of the survivor) no longer exist there: their
identities are marked deleted. Empty strings are missing values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crmhub.core.records import ConsentRecord, CustomerRecord

PROPERTIES = (
    "email",
    "firstname",
    "lastname",
    "phone",
    "lifecyclestage",
    "hs_email_optout",
    "createdate",
    "lastmodifieddate",
    "hs_merged_object_ids",
)


def parse_time(value: Any) -> datetime | None:
    """A HubSpot time: ISO 8601 (``2024-05-01T09:00:00.000Z``) or epoch milliseconds."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def epoch_ms(when: datetime) -> int:
    """``when`` as the epoch milliseconds HubSpot's search filters take."""
    return int(when.timestamp() * 1000)


def modified_at(contact: dict[str, Any]) -> datetime | None:
    """The contact's ``lastmodifieddate`` (its ``updatedAt`` when the property is absent)."""
    props = contact.get("properties") or {}
    return parse_time(props.get("lastmodifieddate")) or parse_time(contact.get("updatedAt"))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def map_contact(instance: str, contact: dict[str, Any]) -> list[CustomerRecord]:
    """The records of one contact: itself, and deletions of the contacts merged into it."""
    props = contact.get("properties") or {}
    updated = modified_at(contact)
    if contact.get("archived"):
        archived_at = parse_time(contact.get("archivedAt")) or updated
        return [CustomerRecord(instance=instance, external_id=contact["id"], deleted=True,
                               source_updated_at=archived_at)]
    consent = []
    if str(props.get("hs_email_optout") or "").lower() == "true":
        consent.append(ConsentRecord(channel="email", granted=False, state="hs_email_optout",
                                     recorded_at=updated))
    stage = _text(props.get("lifecyclestage"))
    record = CustomerRecord(
        instance=instance,
        external_id=contact["id"],
        email=_text(props.get("email")),
        phone=_text(props.get("phone")),
        first_name=_text(props.get("firstname")),
        last_name=_text(props.get("lastname")),
        created_at=parse_time(props.get("createdate")) or parse_time(contact.get("createdAt")),
        consent=consent,
        attributes={"lifecycle_stage": stage} if stage else {},
        source_updated_at=updated,
    )
    merged = [i for i in str(props.get("hs_merged_object_ids") or "").split(";") if i.strip()]
    return [record] + [
        CustomerRecord(instance=instance, external_id=i.strip(), deleted=True, source_updated_at=updated)
        for i in merged
    ]


def deleted_contact(instance: str, contact_id: str, at: datetime | None) -> CustomerRecord:
    """The record of a contact deleted in HubSpot."""
    return CustomerRecord(instance=instance, external_id=contact_id, deleted=True, source_updated_at=at)
