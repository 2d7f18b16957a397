"""Segments out to HubSpot: a MANUAL list per segment and contact properties, by difference.

The segments engine hands over one segment's changes at a time, at most 100 customers
(HubSpot's batch size). One batch costs at most three calls:

1. ``batch/upsert`` keyed by email (``idProperty: "email"``) for entries and changes: the
   segments property and the score properties (:mod:`.properties`), with the names the hub
   holds; HubSpot answers the contact ids, or 207 naming the inputs that failed;
2. one ``memberships/add-and-remove`` on the segment's list: the contacts upserted (an
   update re-adds its contact, which heals a list edited by hand) and the contacts leaving;
3. ``batch/update`` by id for the contacts leaving: their segments property rewritten from
   the segments they are still in.

Only what HubSpot confirmed is reported confirmed, so a 207 fails the bad records alone
and the engine retries exactly those next time; a call that fails outright fails the batch.
:meth:`HubSpotDestination.forget` deletes erased customers' contacts with HubSpot's GDPR
delete (permanent, unlike an archive, which HubSpot keeps restorable for 90 days).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmhub.core.destinations import Destination, PushBatch, PushItem, PushResult
from crmhub.core.errors import RemoteError
from crmhub.plugins.hubspot.lists import SegmentLists
from crmhub.plugins.hubspot.properties import ContactProperties

if TYPE_CHECKING:
    from crmhub.core.hub import Hub
    from crmhub.core.instances import Instance
    from crmhub.plugins.hubspot.client import HubSpotClient
    from crmhub.plugins.hubspot.settings import HubSpotSettings

NOT_CONFIRMED = "HubSpot did not confirm this contact"


class HubSpotDestination(Destination):
    """Keeps one HubSpot account's lists and properties in step with crmhub segments."""

    required_consent = "email"
    batch_size = 100

    def __init__(self, hub: Hub, instance: Instance[HubSpotSettings], client: HubSpotClient) -> None:
        settings = instance.settings
        routed = [name for name, segment in hub.settings.segments.items() if instance.id in segment.destinations]
        self.hub = hub
        self.client = client
        self.properties = ContactProperties(settings.segments_property, settings.score_properties, routed)
        self.lists = SegmentLists(client, settings.list_prefix)

    def attributes(self, customer: dict[str, Any]) -> dict[str, Any]:
        """The HubSpot properties of a member: segments routed here, and configured scores."""
        return self.properties.for_member(customer)

    def push(self, batch: PushBatch) -> PushResult:
        """Apply one segment's batch (see the module docstring). A dry run calls nothing."""
        result = PushResult()
        if batch.dry_run or not batch.items:
            return result
        if len(batch.items) > self.batch_size:  # HubSpot refuses larger batches outright
            for start in range(0, len(batch.items), self.batch_size):
                part = self.push(PushBatch(batch.segment, batch.items[start : start + self.batch_size]))
                result.confirmed.update(part.confirmed)
                result.failed.update(part.failed)
            return result
        upserted = self._upsert([i for i in batch.items if i.action != "remove"], result)
        leaving = [i for i in batch.items if i.action == "remove"]
        removed = self._contact_ids(leaving)
        present = {cid: rid for cid, rid in removed.items() if rid is not None}
        missing: set[str] = set()
        if batch.segment and (upserted or present):
            answer = self.client.change_members(
                self.lists.list_id(batch.segment), _unique(upserted.values()), _unique(present.values())
            )
            missing = {str(i) for i in answer.get("recordIdsMissing") or []}
        for customer_id, contact in upserted.items():
            if contact in missing:
                result.failed[customer_id] = f"contact {contact} vanished before it joined the list"
            else:
                result.confirmed[customer_id] = contact
        self._rewrite_leavers(batch.segment, present, result)
        for customer_id, found in removed.items():
            if found is None:
                result.confirmed[customer_id] = None  # HubSpot has no such contact: nothing to remove
        return result

    def forget(self, items: list[PushItem]) -> PushResult:
        """Delete erased customers' contacts permanently (by id, or by the email pushed)."""
        result = PushResult()
        for item in items:
            target, by_email = (item.remote_id, False) if item.remote_id else (item.email, True)
            if not target:
                result.confirmed[item.customer_id] = None
                continue
            try:
                self.client.gdpr_delete(target, by_email=by_email)
            except RemoteError as exc:
                result.failed[item.customer_id] = exc.message
            else:
                result.confirmed[item.customer_id] = item.remote_id
        return result

    # -- steps -----------------------------------------------------------------------------

    def _upsert(self, items: list[PushItem], result: PushResult) -> dict[int, str]:
        """Upsert members by email; returns customer id → contact id for the confirmed."""
        groups: dict[str, list[PushItem]] = {}
        for item in items:
            if item.email:
                groups.setdefault(item.email.strip().lower(), []).append(item)
            else:
                result.failed[item.customer_id] = "no email to identify the contact by"
        if not groups:
            return {}
        inputs = [{"id": email, "properties": self._member_properties(email, group[-1])}
                  for email, group in groups.items()]
        answer = self.client.upsert_by_email(inputs)
        ids, errors = _by_email(answer, list(groups))
        done: dict[int, str] = {}
        for email, group in groups.items():
            for item in group:
                if email in ids:
                    done[item.customer_id] = ids[email]
                else:
                    result.failed[item.customer_id] = errors.get(email, NOT_CONFIRMED)
        return done

    @staticmethod
    def _member_properties(email: str, item: PushItem) -> dict[str, Any]:
        properties: dict[str, Any] = {**item.attributes, "email": email}
        if item.first_name:
            properties["firstname"] = item.first_name
        if item.last_name:
            properties["lastname"] = item.last_name
        return properties

    def _contact_ids(self, items: list[PushItem]) -> dict[int, str | None]:
        """Contact ids of leaving customers: the remote id pushed, else looked up by email
        (None: HubSpot has no such contact)."""
        found: dict[int, str | None] = {i.customer_id: i.remote_id for i in items if i.remote_id}
        emails = sorted({i.email.lower() for i in items if not i.remote_id and i.email})
        known = self.client.read_contacts_by_email(emails) if emails else {}
        for item in items:
            if not item.remote_id:
                found[item.customer_id] = known.get((item.email or "").lower())
        return found

    def _rewrite_leavers(self, segment: str, present: dict[int, str], result: PushResult) -> None:
        """Rewrite the segments property of contacts that left ``segment``."""
        if not present:
            return
        with self.hub.transaction() as session:
            remaining = self.properties.remaining_segments(session, present, segment)
        inputs: dict[str, dict[str, Any]] = {}
        for customer_id, contact in present.items():
            inputs[contact] = {"id": contact, "properties": self.properties.after_removal(remaining[customer_id])}
        answer = self.client.update_by_id(list(inputs.values()))
        failed: dict[str, str] = {}
        for error in answer.get("errors") or []:
            if error.get("category") == "OBJECT_NOT_FOUND":
                continue  # deleted in HubSpot meanwhile: nothing left to clear
            for key in (error.get("context") or {}).get("ids") or []:
                failed[str(key)] = str(error.get("message") or error.get("category") or NOT_CONFIRMED)
        for customer_id, contact in present.items():
            if contact in failed:
                result.failed[customer_id] = failed[contact]
            else:
                result.confirmed[customer_id] = contact


def _unique(values: Any) -> list[str]:
    return sorted(set(values), key=lambda v: (len(v), v))


def _by_email(answer: dict[str, Any], emails: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Contact id and error message per input email of a batch upsert answer."""
    ids: dict[str, str] = {}
    unmatched: list[str] = []
    wanted = set(emails)
    for row in answer.get("results") or []:
        email = str((row.get("properties") or {}).get("email") or "").lower()
        if email in wanted:
            ids[email] = str(row["id"])
        else:
            unmatched.append(str(row["id"]))
    errors: dict[str, str] = {}
    for error in answer.get("errors") or []:
        for key in (error.get("context") or {}).get("ids") or []:
            errors[str(key).strip().lower()] = str(error.get("message") or error.get("category") or NOT_CONFIRMED)
    open_inputs = [e for e in emails if e not in ids and e not in errors]
    if len(open_inputs) == 1 and len(unmatched) == 1:  # matched by another email of the contact
        ids[open_inputs[0]] = unmatched[0]
    return ids, errors
