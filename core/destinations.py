"""What a destination plugin provides: a :class:`Destination` that applies segment changes.

The core computes, per destination and segment, the difference since the destination's
last confirmed push and hands it over in batches of :class:`PushItem`. The destination
answers with a :class:`PushResult` naming which customers the remote confirmed; only
those are recorded, so failed ones are retried next time, alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

PushAction = Literal["add", "remove", "update"]


@dataclass(frozen=True)
class PushItem:
    """One customer's change in one segment.

    :ivar action: ``add`` (entered), ``remove`` (exited, erased or lost consent),
        ``update`` (still a member; attributes changed).
    :ivar email: the customer's email (``None`` for an erased customer: use ``remote_id``).
    :ivar remote_id: the destination's id from an earlier confirmed push, if any.
    :ivar attributes: the attributes to push (segment list, scores…).
    """

    customer_id: int
    action: PushAction
    email: str | None
    remote_id: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    first_name: str | None = None
    last_name: str | None = None


@dataclass
class PushBatch:
    """Changes of one segment for one destination, at most ``batch_size`` items."""

    segment: str
    items: list[PushItem]
    dry_run: bool = False


@dataclass
class PushResult:
    """What the remote confirmed.

    :ivar confirmed: customer id → remote id (or ``None``) for every item applied.
    :ivar failed: customer id → error message for items that must be retried.
    """

    confirmed: dict[int, str | None] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)


class Destination:
    """Base class of destinations. Override :meth:`push`; set :attr:`required_consent`."""

    #: Consent channel a customer must have granted to be pushed ("email"), or None.
    required_consent: str | None = "email"
    #: Largest batch the remote accepts.
    batch_size: int = 100

    def attributes(self, customer: dict[str, Any]) -> dict[str, Any]:
        """Attributes pushed for a member (used to detect changes). ``customer`` holds the
        customer's fields, scores and segment names. Default: segment names only."""
        return {"segments": sorted(customer.get("segments", []))}

    def push(self, batch: PushBatch) -> PushResult:
        """Apply a batch of changes remotely and say which were confirmed."""
        raise NotImplementedError

    def forget(self, items: list[PushItem]) -> PushResult:
        """Remove erased customers from the remote entirely (not only from a segment).
        Default: remove them from the segments like any exit."""
        return self.push(PushBatch(segment="", items=items))
