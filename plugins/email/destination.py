"""The email instance as a segment destination.

Email is not a remote list: nothing is uploaded. A segment that lists ``email.main`` among
its destinations gets, through the ordinary segment push, the consent-filtered difference
of its membership, and the destination turns it into flow actions (see :mod:`.flows`):
``add`` enrols the member in the segment's flows, ``remove`` cancels their pending flow
email. Every item is confirmed, with the SHA-256 of the address as the remote id, so the
push records exactly which customers the email instance has seen. ``forget`` (erasure)
suppresses the customer's addresses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmhub.core.destinations import Destination, PushBatch, PushItem, PushResult
from crmhub.plugins.email.flows import enrol_pushed
from crmhub.plugins.email.runtime import EmailRuntime
from crmhub.plugins.email.suppression import address_hash, suppress_erased

if TYPE_CHECKING:
    from crmhub.core.hub import Hub


class EmailDestination(Destination):
    """Segment membership → flow enrolments of one email instance."""

    required_consent = "email"
    batch_size = 1000

    def __init__(self, hub: Hub, rt: EmailRuntime) -> None:
        self.hub = hub
        self.rt = rt

    def attributes(self, customer: dict[str, Any]) -> dict[str, Any]:
        """Nothing is pushed about a member, so membership changes only (no updates)."""
        return {}

    def push(self, batch: PushBatch) -> PushResult:
        """Enrol added members in the segment's flows, cancel removed members' pending emails."""
        if batch.dry_run:
            return PushResult()
        added = [item.customer_id for item in batch.items if item.action == "add"]
        removed = [item.customer_id for item in batch.items if item.action == "remove"]
        enrol_pushed(self.hub, self.rt, batch.segment, added, removed)
        return PushResult(confirmed={item.customer_id: self._remote_id(item) for item in batch.items})

    def forget(self, items: list[PushItem]) -> PushResult:
        """Suppress erased customers' addresses and drop what the plugin kept about them."""
        with self.hub.transaction() as session:
            for item in items:
                suppress_erased(session, item.customer_id, instance=self.rt.id, now=self.hub.now())
        return PushResult(confirmed={item.customer_id: item.remote_id for item in items})

    @staticmethod
    def _remote_id(item: PushItem) -> str | None:
        if item.action == "remove":
            return item.remote_id
        return address_hash(item.email) if item.email else item.remote_id
