"""The ``contacts`` stream: full runs page the contacts list, incremental runs search by
``lastmodifieddate``.

**Full run** (the first run, and ``--full``): ``GET /crm/v3/objects/contacts`` in id order
with the ``after`` cursor, then the same listing with ``archived=true``, whose contacts
become deletions. The search API's total of live contacts is the run's expected total.
Afterwards ``since`` is the run's start: anything modified while it ran is read again.

**Incremental run**: the search API, ``lastmodifieddate`` from ``since − lookback`` up to
(excluding) the run's start, sorted ascending and read by *keyset*: every query starts
again at the last modification time read (``GTE``), skipping the ids already read at that
instant. Two limits of the search API make this the safe way to read it:

- only the first 10,000 results of a query are reachable: a fresh query per page never
  pages past 200, however many contacts the window holds;
- an ``after`` offset into a result set that changes while it is read (contacts modified
  meanwhile jump to its end) skips records; a keyset does not — a contact modified after
  it was read is read again later, which the idempotent ingest absorbs.

When a whole page shares one modification time (a bulk import), that instant is read on
its own by ``hs_object_id`` (``EQ`` time, ``GT`` last id, sorted by id), then the run goes
on after it. Search calls run under the 4-per-second search limit (its own limiter key
extension, on top of the account's window).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from crmhub.core.records import utc
from crmhub.core.sources import Page, Stream
from crmhub.plugins.hubspot.mapping import PROPERTIES, epoch_ms, map_contact, modified_at
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from crmhub.core.hub import Hub
    from crmhub.plugins.hubspot.client import HubSpotClient

SEARCH_PAGE = 200  # the search API's largest page (100 per some third-party sources: ⚠)
LIST_PAGE = 100


class ContactsResume(BaseModel):
    """Where an unfinished run is (``None`` between runs)."""

    phase: Literal["live", "archived", "search", "ties", "done"]
    started: datetime = Field(description="Run start; the upper bound of a search run")
    after: str | None = Field(default=None, description="List cursor, or last id read in 'ties'")
    cursor: datetime | None = Field(default=None, description="Search: modification time reached")
    inclusive: bool = Field(default=True, description="Search: GTE (True) or GT (False) cursor")
    seen: list[str] = Field(default_factory=list, description="Ids already read at the cursor")


class ContactsState(BaseModel):
    """Cursor of the contacts stream."""

    since: datetime | None = Field(default=None, description="Everything modified before was read")
    resume: ContactsResume | None = None


class ContactsStream(Stream[ContactsState]):
    """HubSpot contacts, incrementally (see the module docstring)."""

    name = "contacts"
    state_model = ContactsState

    def __init__(self, hub: Hub, instance: str, client: HubSpotClient) -> None:
        self.hub = hub
        self.instance = instance
        self.client = client

    def read(self, state: ContactsState | None, *, full: bool) -> Iterator[Page[ContactsState]]:
        """Pages of customer records from ``state`` to the end of the run."""
        state = state or ContactsState()
        if full or state.resume is None:
            full_run = full or state.since is None
            phase: Literal["live", "search"] = "live" if full_run else "search"
            start = utc(self.hub.now())
            cursor = None if full_run else state.since - self.lookback  # type: ignore[operator]
            state = ContactsState(since=state.since, resume=ContactsResume(phase=phase, started=start, cursor=cursor))
        expected = self._live_total() if state.resume and state.resume.phase == "live" else None
        while state.resume is not None and state.resume.phase != "done":
            records, resume = self._step(state.resume)
            state = state.model_copy(update={"resume": resume})
            yield Page(records=records, state=state, expected_total=expected)
            expected = None

    def finish(self, state: ContactsState) -> ContactsState:
        """After the last page: ``since`` moves to the run's start."""
        if state.resume is None:
            return state
        return ContactsState(since=state.resume.started)

    # -- one request ---------------------------------------------------------------------

    def _step(self, resume: ContactsResume) -> tuple[list[Any], ContactsResume | None]:
        if resume.phase in ("live", "archived"):
            return self._list_page(resume)
        if resume.phase == "ties":
            return self._ties_page(resume)
        return self._search_page(resume)

    def _records(self, contacts: list[dict[str, Any]]) -> list[Any]:
        return [record for contact in contacts for record in map_contact(self.instance, contact)]

    def _list_page(self, resume: ContactsResume) -> tuple[list[Any], ContactsResume | None]:
        archived = resume.phase == "archived"
        answer = self.client.list_contacts(PROPERTIES, after=resume.after, archived=archived, limit=LIST_PAGE)
        after = ((answer.get("paging") or {}).get("next") or {}).get("after")
        if after:
            nxt = resume.model_copy(update={"after": str(after)})
        elif not archived:
            nxt = resume.model_copy(update={"phase": "archived", "after": None})
        else:
            nxt = resume.model_copy(update={"phase": "done"})
        return self._records(answer.get("results") or []), nxt

    def _search_page(self, resume: ContactsResume) -> tuple[list[Any], ContactsResume]:
        filters = [{"propertyName": "lastmodifieddate", "operator": "LT", "value": str(epoch_ms(resume.started))}]
        if resume.cursor is not None:
            op = "GTE" if resume.inclusive else "GT"
            filters.append({"propertyName": "lastmodifieddate", "operator": op, "value": str(epoch_ms(resume.cursor))})
        answer = self.client.search_contacts({
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            "properties": list(PROPERTIES), "limit": SEARCH_PAGE,
        })
        raw = answer.get("results") or []
        seen = set(resume.seen)
        fresh = [c for c in raw if str(c["id"]) not in seen]
        if len(raw) < SEARCH_PAGE:
            return self._records(fresh), resume.model_copy(update={"phase": "done"})
        first, last = modified_at(raw[0]), modified_at(raw[-1])
        if first == last:  # a full page at one instant: read that instant by id
            return self._records(fresh), resume.model_copy(
                update={"phase": "ties", "cursor": last, "after": None, "seen": []})
        at_last = [str(c["id"]) for c in raw if modified_at(c) == last]
        return self._records(fresh), resume.model_copy(
            update={"cursor": last, "inclusive": True, "seen": at_last})

    def _ties_page(self, resume: ContactsResume) -> tuple[list[Any], ContactsResume]:
        assert resume.cursor is not None
        filters = [{"propertyName": "lastmodifieddate", "operator": "EQ", "value": str(epoch_ms(resume.cursor))}]
        if resume.after:
            filters.append({"propertyName": "hs_object_id", "operator": "GT", "value": resume.after})
        answer = self.client.search_contacts({
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": list(PROPERTIES), "limit": SEARCH_PAGE,
        })
        raw = answer.get("results") or []
        if len(raw) < SEARCH_PAGE:
            return self._records(raw), resume.model_copy(
                update={"phase": "search", "inclusive": False, "after": None, "seen": []})
        return self._records(raw), resume.model_copy(update={"after": str(raw[-1]["id"])})

    def _live_total(self) -> int | None:
        """How many live contacts the account holds (one search call), for reconciliation."""
        answer = self.client.search_contacts({"filterGroups": [], "properties": ["hs_object_id"], "limit": 1})
        total = answer.get("total")
        return int(total) if isinstance(total, int) else None
