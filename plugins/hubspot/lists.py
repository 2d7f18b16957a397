"""One MANUAL HubSpot contact list per crmhub segment, found by name or created."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmhub.core.errors import PermanentRemoteError

if TYPE_CHECKING:
    from crmhub.plugins.hubspot.client import HubSpotClient

MANAGEABLE = ("MANUAL", "SNAPSHOT")


class SegmentLists:
    """Resolves a segment to the id of its list (``list_prefix + segment``), creating a
    ``MANUAL`` list when none exists. Ids are cached for the life of the object (one push).

    :raises PermanentRemoteError: a list of that name exists but is ``DYNAMIC`` (its
        membership cannot be set through the API).
    """

    def __init__(self, client: HubSpotClient, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._ids: dict[str, str] = {}

    def name(self, segment: str) -> str:
        """The list's name for a segment."""
        return f"{self.prefix}{segment}"

    def list_id(self, segment: str) -> str:
        """The id of the segment's list (found or created)."""
        if segment not in self._ids:
            name = self.name(segment)
            found = self.client.list_by_name(name)
            if found is None:
                try:
                    found = self.client.create_list(name)
                except PermanentRemoteError:  # another worker created it meanwhile
                    found = self.client.list_by_name(name)
                    if found is None:
                        raise
            kind = found.get("processingType")
            if kind not in MANAGEABLE:
                raise PermanentRemoteError(
                    f"HubSpot list {name!r} is a {kind} list; crmhub keeps MANUAL lists. Rename "
                    "or delete that list, or change list_prefix",
                )
            self._ids[segment] = str(found["listId"])
        return self._ids[segment]
