"""The customers and orders streams of a Shopify instance.

Each run lists ``{resource}.json`` filtered by ``updated_at_min`` (the cursor minus the
lookback window; nothing on a full run; ``status=any`` for orders, which Shopify would
otherwise limit to open ones) and walks the ``Link`` header's ``page_info`` cursors, which
carry the filters themselves. Requests are fetched and mapped in a thread a little ahead of
the hub (:func:`~crmhub.plugins.shopify.readahead.read_ahead`) and handed over
``records_per_commit`` at a time; the state after each handover holds the next request's
link, so a killed run resumes where its last commit ended. When a run ends, ``since`` moves
to the newest ``updated_at`` it saw, but never past the moment the run started: a record
saved during the run, behind the page the run had reached, is read again by the next run.

Reconciliation: :meth:`ShopifyStream.expected_total` answers with ``count.json`` (orders:
``status=any``), which the sync runner compares with what the hub holds for the instance,
after every run; a difference marks the run ``completed_with_gaps``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import ValidationError

from crmhub.core.http import LinkToken
from crmhub.core.records import CanonicalRecord, utc
from crmhub.core.sources import IncrementalState, Page, Stream
from crmhub.plugins.shopify.client import shopify_client
from crmhub.plugins.shopify.mapping import map_customer, map_order, updated_at
from crmhub.plugins.shopify.readahead import read_ahead

if TYPE_CHECKING:
    from crmhub.core.hub import Hub
    from crmhub.core.instances import Instance
    from crmhub.plugins.shopify.settings import ShopifySettings

log = logging.getLogger("crmhub.plugins.shopify")
RUN_STARTED = "run_started_at"
_Fetched = tuple[list[CanonicalRecord], list[str], "datetime | None", "LinkToken | None"]


class ShopifyStream(Stream[IncrementalState]):
    """Reads one Admin REST resource by ``updated_at`` (see the module docstring)."""

    state_model = IncrementalState
    resource: ClassVar[str] = ""
    filters: ClassVar[dict[str, str]] = {}
    mapper: ClassVar[Callable[[dict[str, Any], str], CanonicalRecord]]

    def __init__(self, hub: Hub, instance: Instance[ShopifySettings]) -> None:
        self.hub = hub
        self.instance = instance
        self.lookback = instance.settings.lookback_window
        self.page_size = instance.settings.page_size
        self.records_per_commit = instance.settings.records_per_commit

    def read(
        self, state: IncrementalState | None, *, full: bool
    ) -> Iterator[Page[IncrementalState]]:
        """Yield pages from the cursor (or everything when ``full``) to the last one."""
        state = (state or IncrementalState()).start(lookback=self.lookback, full=full)
        start = LinkToken.model_validate(state.resume) if state.resume else None
        if start is None:
            extra = {**state.extra, RUN_STARTED: self.hub.now().isoformat()}
            state = state.model_copy(update={"extra": extra})
        params = dict(self.filters)
        if state.run_since is not None:
            params["updated_at_min"] = state.run_since.isoformat()
        fetched = read_ahead(self._fetch(params, start), name=f"{self.instance.id} {self.name}")
        records: list[CanonicalRecord] = []
        rejected: list[str] = []
        newest: datetime | None = None
        for page_records, page_rejected, page_newest, next_token in fetched:
            records += page_records
            rejected += page_rejected
            if page_newest is not None and (newest is None or page_newest > newest):
                newest = page_newest
            if next_token is not None and len(records) + self.page_size <= self.records_per_commit:
                continue  # several requests' worth in one transaction: far fewer round trips
            resume = next_token.model_dump() if next_token is not None else None
            state = state.advance(seen=newest, resume=resume)
            yield Page(
                records=records, state=state, meta={"rejected": rejected} if rejected else {}
            )
            records, rejected, newest = [], [], None

    def _fetch(self, params: dict[str, str], start: LinkToken | None) -> Iterator[_Fetched]:
        """Requests, mapped: (records, rejected ids, newest updated_at, next page)."""
        client = shopify_client(self.hub, self.instance)
        for page in client.pages(self.resource, params, start=start):
            yield (*self._map(page.items), page.next_token)

    def _map(self, items: list[Any]) -> tuple[list[CanonicalRecord], list[str], datetime | None]:
        records: list[CanonicalRecord] = []
        rejected: list[str] = []
        newest: datetime | None = None
        mapper = type(self).mapper
        for raw in items:
            stamp = updated_at(raw) if isinstance(raw, dict) else None
            if stamp is not None and (newest is None or stamp > newest):
                newest = stamp
            try:
                records.append(mapper(raw, self.instance.id))
            except (ValidationError, ValueError, KeyError, TypeError) as exc:
                record_id = str(raw.get("id")) if isinstance(raw, dict) else "?"
                rejected.append(record_id)
                log.warning(
                    "skipping unreadable Shopify %s %s: %s",
                    self.resource,
                    record_id,
                    type(exc).__name__,
                    extra={"instance": self.instance.id},
                )
        return records, rejected, newest

    def finish(self, state: IncrementalState) -> IncrementalState:
        """Move ``since`` to the newest update seen, but not past the run's start."""
        done = state.complete()
        extra = dict(done.extra)
        started = extra.pop(RUN_STARTED, None)
        since = done.since
        if started is not None and since is not None:
            since = min(since, utc(datetime.fromisoformat(started)))
        return done.model_copy(update={"since": since, "extra": extra})

    def expected_total(self) -> int | None:
        """How many records the shop holds (``count.json``)."""
        return shopify_client(self.hub, self.instance).count(self.resource, self.filters or None)


class CustomersStream(ShopifyStream):
    """Customers, newest state of each (deleted ones only arrive by webhook)."""

    name = "customers"
    resource = "customers"
    mapper = staticmethod(map_customer)


class OrdersStream(ShopifyStream):
    """Orders of every status, with line items, refunds and cancellations."""

    name = "orders"
    resource = "orders"
    filters: ClassVar[dict[str, str]] = {"status": "any"}
    mapper = staticmethod(map_order)


STREAMS: dict[str, type[ShopifyStream]] = {"customers": CustomersStream, "orders": OrdersStream}


def instance_streams(hub: Hub, instance: Instance[ShopifySettings]) -> list[Stream[Any]]:
    """The streams the instance's ``streams`` setting asks for, customers first."""
    return [STREAMS[name](hub, instance) for name in instance.settings.streams]
