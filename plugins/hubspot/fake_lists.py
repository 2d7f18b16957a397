"""Contact lists of the fake HubSpot portal (Lists API v3, "ILS" lists).

A list has a ``listId`` (a numeric string), a unique ``name``, ``objectTypeId`` ``0-1``
(contacts) and a ``processingType``: ``MANUAL`` and ``SNAPSHOT`` lists take membership
changes through the API, ``DYNAMIC`` ones are filter-driven and refuse them. Memberships
are kept ordered by record id, which is the order ``GET …/memberships`` pages in.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crmhub.plugins.hubspot.fake_contacts import hs_time

__all__ = ["ContactList", "ListStore", "PROCESSING_TYPES"]

PROCESSING_TYPES = ("MANUAL", "DYNAMIC", "SNAPSHOT")


@dataclass
class ContactList:
    """One list and its members (record id -> time it joined)."""

    list_id: int
    name: str
    processing_type: str
    object_type_id: str
    created: datetime
    updated: datetime
    version: int = 1
    filter_branch: dict[str, Any] | None = None
    members: dict[int, datetime] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)

    @property
    def manual(self) -> bool:
        """True when memberships can be changed through the API."""
        return self.processing_type in ("MANUAL", "SNAPSHOT")

    def as_json(self) -> dict[str, Any]:
        """The ``list`` object of the API."""
        out: dict[str, Any] = {
            "listId": str(self.list_id),
            "listVersion": self.version,
            "name": self.name,
            "objectTypeId": self.object_type_id,
            "processingType": self.processing_type,
            "processingStatus": "COMPLETE",
            "createdAt": hs_time(self.created),
            "updatedAt": hs_time(self.updated),
            "filtersUpdatedAt": hs_time(self.created),
            "size": len(self.members),
        }
        if self.filter_branch is not None:
            out["filterBranch"] = self.filter_branch
        return out

    def add(self, record_id: int, now: datetime) -> bool:
        """Add a member; False when it already was one."""
        if record_id in self.members:
            return False
        self.members[record_id] = now
        insort(self.order, record_id)
        return True

    def remove(self, record_id: int) -> bool:
        """Remove a member; False when it was not one."""
        if record_id not in self.members:
            return False
        del self.members[record_id]
        self.order.remove(record_id)
        return True

    def page(self, after: int | None, limit: int) -> tuple[list[int], int | None]:
        """Member ids after ``after`` (ascending) and the cursor of the next page."""
        start = bisect_right(self.order, after) if after is not None else 0
        chunk = self.order[start : start + limit + 1]
        more = len(chunk) > limit
        chunk = chunk[:limit]
        return chunk, (chunk[-1] if more and chunk else None)


class ListStore:
    """All lists of the portal, by id and by (object type, name)."""

    def __init__(self, first_id: int = 11) -> None:
        self.lists: dict[int, ContactList] = {}
        self._next_id = first_id

    def create(
        self,
        name: str,
        processing_type: str,
        object_type_id: str,
        now: datetime,
        filter_branch: dict[str, Any] | None = None,
    ) -> ContactList:
        """Create a list; ValueError when the name is taken or the type unknown."""
        if processing_type not in PROCESSING_TYPES:
            raise ValueError(f"processingType must be one of {', '.join(PROCESSING_TYPES)}")
        if self.by_name(object_type_id, name) is not None:
            raise ValueError(f"A list named '{name}' already exists.")
        lst = ContactList(
            self._next_id,
            name,
            processing_type,
            object_type_id,
            now,
            now,
            filter_branch=filter_branch,
        )
        self._next_id += 1
        self.lists[lst.list_id] = lst
        return lst

    def by_name(self, object_type_id: str, name: str) -> ContactList | None:
        """The list with this exact name (case-insensitive, as list names are unique that way)."""
        wanted = name.lower()
        for lst in self.lists.values():
            if lst.object_type_id == object_type_id and lst.name.lower() == wanted:
                return lst
        return None
