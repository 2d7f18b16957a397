"""The orders stream: ``/orders`` by ``modified_after`` (GMT) with a lookback window.

A run reads two lanes in id order (:class:`~crmhub.plugins.woocommerce.pager.IdPager`):
the default ``status=any`` (every status, plugin-defined ones included, but not trash) and
``status=trash`` (trashed orders, which become deleted). Incremental runs filter both by
``modified_after = since - lookback`` with ``dates_are_gmt=true``; ``since`` becomes the
newest ``date_modified_gmt`` seen, capped at the run's start so an order changed while the
run read past it is read again next time.

Incremental runs also fetch the registered customers the changed orders point at
(``/customers?include=…``, 100 ids per request) and put them on the same page, so address
and name changes that come with an order reach the hub. A full run that started from the
beginning finally marks the hub's orders the site no longer has as deleted.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel

from crmhub.core.http import ApiClient
from crmhub.core.records import CanonicalRecord
from crmhub.core.sources import IncrementalState, Page
from crmhub.plugins.woocommerce.client import json_list, total_of
from crmhub.plugins.woocommerce.mapping import map_customer, map_order
from crmhub.plugins.woocommerce.pager import IdCursor, IdPager
from crmhub.plugins.woocommerce.reconcile import missing_orders
from crmhub.plugins.woocommerce.stream_base import WooStream

Lane = Literal["any", "trash"]
LANES: tuple[Lane, ...] = ("any", "trash")


class OrdersResume(BaseModel):
    """Where an interrupted run goes on: the lane and the position in it."""

    lane: Lane = "any"
    cursor: IdCursor | None = None


class OrdersState(IncrementalState):
    """The orders cursor: ``since`` etc. from :class:`IncrementalState`, plus the run's
    start, whether it is a full run, and the webhook watch."""

    run_started_at: datetime | None = None
    full_run: bool = False
    webhooks_ok_at: datetime | None = None
    sweep_deletions: bool = False


def wc_date(value: datetime) -> str:
    """A GMT date parameter (``dates_are_gmt=true``)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


class OrdersStream(WooStream[OrdersState]):
    """Orders of one WooCommerce site (see the module docstring)."""

    name = "orders"
    resource = "order"
    state_model = OrdersState

    def pages(self, state: OrdersState | None, *, full: bool) -> Iterator[Page[OrdersState]]:
        """Yield one page per request (with the customers its orders point at), then the
        deletions a full run or a sweep found."""
        state = state or OrdersState()
        with self.client() as client:
            resumed = state.resume is not None and not full
            meta: dict[str, Any] = {}
            if not resumed:
                state, meta = self._open(client, state, full=full)
            seen: set[int] | None = None if resumed or not state.full_run else set()
            totals: dict[str, int] = {}
            for page in self._lanes(client, state, seen, totals):
                page.meta.update(meta)
                meta = {}
                state = page.state
                yield page
            if seen is None and state.sweep_deletions:
                seen = self._all_ids(client)
            if seen is not None:
                with self.hub.transaction() as session:
                    gone: list[CanonicalRecord] = [*missing_orders(session, self.instance.id, seen)]
                state = state.model_copy(update={"sweep_deletions": False})
                yield Page(
                    records=gone,
                    state=state,
                    expected_total=sum(totals.values()),
                    meta={"deleted": len(gone)},
                )

    def _open(
        self, client: ApiClient, state: OrdersState, *, full: bool
    ) -> tuple[OrdersState, dict[str, Any]]:
        """Start a run: its lower bound, the webhook watch, and whether it is a full one."""
        now = self.hub.now()
        state = state.start(lookback=self.lookback, full=full)
        watch = self.watch_webhooks(client, state.webhooks_ok_at, now)
        run_since = state.run_since
        if run_since is not None and watch.gap_since is not None:
            run_since = min(run_since, watch.gap_since - self.lookback)
        state = state.model_copy(
            update={
                "run_since": run_since,
                "run_started_at": now,
                "full_run": run_since is None,
                "webhooks_ok_at": watch.ok_at,
                "sweep_deletions": state.sweep_deletions or watch.gap_since is not None,
            }
        )
        return state, watch.meta

    def _lanes(
        self, client: ApiClient, state: OrdersState, seen: set[int] | None, totals: dict[str, int]
    ) -> Iterator[Page[OrdersState]]:
        """The pages of both lanes from the state's position; the last one closes the run."""
        position = OrdersResume.model_validate(state.resume or {})
        filters: dict[str, Any] = {}
        if state.run_since is not None:
            filters = {"modified_after": wc_date(state.run_since), "dates_are_gmt": "true"}
        fetched: set[int] = set()
        for lane in LANES[LANES.index(position.lane) :]:
            params = {**filters, **({"status": "trash"} if lane == "trash" else {})}
            pager = IdPager(client, "orders", params, per_page=self.settings.page_size)
            for page in pager.pages(position.cursor if lane == position.lane else None):
                if page.total is not None:
                    totals[lane] = page.total
                orders, errors = self.map_all(page.items, map_order)
                records: list[CanonicalRecord] = []
                if not state.full_run:
                    records += self._customers_of(client, page.items, fetched)
                records += orders
                if seen is not None:
                    seen.update(int(item["id"]) for item in page.items)
                newest = max(
                    (r.source_updated_at for r in orders if r.source_updated_at), default=None
                )
                resume = OrdersResume(lane=lane, cursor=page.cursor).model_dump(mode="json")
                state = state.advance(seen=newest, resume=resume)
                if page.last and lane == LANES[-1]:
                    state = self.finish(state)
                yield Page(
                    records=records,
                    state=state,
                    expected_total=sum(totals.values()),
                    meta={"errors": errors} if errors else {},
                )

    def _all_ids(self, client: ApiClient) -> set[int]:
        """Every order id the site has, trashed ones included (``_fields=id``: small pages)."""
        ids: set[int] = set()
        for lane in LANES:
            params = {"_fields": "id", **({"status": "trash"} if lane == "trash" else {})}
            for page in IdPager(client, "orders", params, per_page=self.settings.page_size).pages():
                ids.update(int(item["id"]) for item in page.items)
        return ids

    def _customers_of(
        self, client: ApiClient, orders: list[dict[str, Any]], fetched: set[int]
    ) -> list[CanonicalRecord]:
        """The registered customers ``orders`` point at, not fetched yet in this run."""
        wanted = sorted({int(o.get("customer_id") or 0) for o in orders} - {0} - fetched)
        fetched.update(wanted)
        records: list[CanonicalRecord] = []
        for i in range(0, len(wanted), 100):
            batch = wanted[i : i + 100]
            response = client.request(
                "GET",
                "customers",
                params={"include": ",".join(map(str, batch)), "role": "all", "per_page": 100},
            )
            found, _ = self.map_all(json_list(client, response), map_customer)
            records += found
        return records

    def finish(self, state: OrdersState) -> OrdersState:
        """Close a run: ``since`` moves to the newest change seen, at most the run's start."""
        done = state.complete()
        if done.since is not None and state.run_started_at is not None:
            done = done.model_copy(update={"since": min(done.since, state.run_started_at)})
        return done.model_copy(update={"full_run": False})

    def expected_total(self) -> int | None:
        """Orders the site holds, trashed ones included (``X-WP-Total``)."""
        with self.client() as client:
            total = 0
            for params in ({}, {"status": "trash"}):
                found = total_of(client.request("GET", "orders", params={**params, "per_page": 1}))
                if found is None:
                    return None
                total += found
            return total
