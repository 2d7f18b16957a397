"""The customers stream. ``/customers`` has no date filter (``modified_after`` is silently
ignored, woocommerce#31482), so a run is one of two kinds:

- **full pass** — every customer (``role=all``), in id order. It runs on the first sync,
  on ``--full``, when ``customer_full_sync_interval`` has passed since the last one, and
  when the webhook watch finds customer webhooks were off (their edits may be lost). A pass
  that started from the beginning finally marks customers the site no longer has as
  deleted.
- **new registrations** — ``orderby=id&order=desc`` until the highest id already known:
  user ids only grow, whereas ``registered_date`` can be set by imports. Usually one request.

Between full passes, profile edits reach the hub through ``customer.*`` webhooks and, for
customers who place or change an order, through the orders stream (which fetches them by
id). A profile edit without an order while webhooks are down is seen by the next full pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from crmhub.core.http import ApiClient
from crmhub.core.records import CanonicalRecord
from crmhub.core.sources import Page
from crmhub.plugins.woocommerce.client import total_of
from crmhub.plugins.woocommerce.mapping import map_customer
from crmhub.plugins.woocommerce.pager import IdCursor, IdPager
from crmhub.plugins.woocommerce.reconcile import missing_customers
from crmhub.plugins.woocommerce.stream_base import WooStream


class CustomersState(BaseModel):
    """The customers cursor.

    :ivar max_id: the highest customer id a finished run saw.
    :ivar last_full_at: when the last finished full pass started.
    :ivar run: the kind of the run in progress (``None`` between runs).
    :ivar resume: where the run in progress goes on.
    :ivar webhooks_ok_at: see :mod:`~crmhub.plugins.woocommerce.stream_base`.
    """

    max_id: int = 0
    last_full_at: datetime | None = None
    run: Literal["full", "new"] | None = None
    run_started_at: datetime | None = None
    run_max_id: int = 0
    resume: IdCursor | None = None
    webhooks_ok_at: datetime | None = None


class CustomersStream(WooStream[CustomersState]):
    """Customers of one WooCommerce site (see the module docstring)."""

    name = "customers"
    resource = "customer"
    state_model = CustomersState

    def pages(self, state: CustomersState | None, *, full: bool) -> Iterator[Page[CustomersState]]:
        """Yield pages of customers from ``state``."""
        state = state or CustomersState()
        now = self.hub.now()
        with self.client() as client:
            resumed = state.run is not None and state.resume is not None and not full
            meta: dict[str, Any] = {}
            if not resumed:
                watch = self.watch_webhooks(client, state.webhooks_ok_at, now)
                meta = dict(watch.meta)
                due = (
                    full
                    or state.last_full_at is None
                    or now - state.last_full_at >= self.settings.customer_full_sync_delta
                )
                if watch.gap_since is not None and not due:
                    meta["full_pass_reason"] = (
                        f"webhooks were off after {watch.gap_since.isoformat()}"
                    )
                state = state.model_copy(
                    update={
                        "run": "full" if due or watch.gap_since is not None else "new",
                        "run_started_at": now,
                        "run_max_id": state.max_id,
                        "resume": None,
                        "webhooks_ok_at": watch.ok_at,
                    }
                )
            if state.run == "full":
                yield from self._full(client, state, None if resumed else set(), meta)
            else:
                yield from self._new(client, state, meta)

    def _full(
        self,
        client: ApiClient,
        state: CustomersState,
        seen: set[int] | None,
        meta: dict[str, Any],
    ) -> Iterator[Page[CustomersState]]:
        pager = IdPager(client, "customers", {"role": "all"}, per_page=self.settings.page_size)
        total = None
        for page in pager.pages(state.resume):
            total = page.total if page.total is not None else total
            records, errors = self.map_all(page.items, map_customer)
            if seen is not None:
                seen.update(int(item["id"]) for item in page.items)
            state = self._advance(state, page.items, page.cursor)
            if page.last:
                state = self.finish(state)
            yield Page(
                records=records,
                state=state,
                expected_total=page.total,
                meta={**meta, "errors": errors} if errors else dict(meta),
            )
            meta = {}
        if seen is not None:
            with self.hub.transaction() as session:
                gone = missing_customers(session, self.instance.id, seen)
            deletions: list[CanonicalRecord] = [*gone]
            yield Page(
                records=deletions,
                state=state,
                expected_total=total,
                meta={"deleted": len(deletions)},
            )

    def _new(
        self, client: ApiClient, state: CustomersState, meta: dict[str, Any]
    ) -> Iterator[Page[CustomersState]]:
        known = state.max_id
        pager = IdPager(
            client, "customers", {"role": "all"}, per_page=self.settings.page_size, descending=True
        )
        for page in pager.pages(state.resume):
            fresh = [item for item in page.items if int(item["id"]) > known]
            records, errors = self.map_all(fresh, map_customer)
            state = self._advance(state, fresh, page.cursor)
            done = page.last or len(fresh) < len(page.items)
            if done:
                state = self.finish(state)
            yield Page(
                records=records,
                state=state,
                meta={**meta, "errors": errors} if errors else dict(meta),
            )
            meta = {}
            if done:
                return

    @staticmethod
    def _advance(
        state: CustomersState, items: list[dict[str, Any]], cursor: IdCursor
    ) -> CustomersState:
        highest = max((int(item["id"]) for item in items), default=0)
        return state.model_copy(
            update={"resume": cursor, "run_max_id": max(state.run_max_id, highest)}
        )

    def finish(self, state: CustomersState) -> CustomersState:
        """Close a run: remember the highest id, and when a full pass started."""
        if state.run is None:
            return state
        return state.model_copy(
            update={
                "max_id": max(state.max_id, state.run_max_id),
                "last_full_at": state.run_started_at if state.run == "full" else state.last_full_at,
                "run": None,
                "resume": None,
                "run_max_id": 0,
            }
        )

    def expected_total(self) -> int | None:
        """Users of every role the site holds (``X-WP-Total``)."""
        with self.client() as client:
            response = client.request("GET", "customers", params={"role": "all", "per_page": 1})
            return total_of(response)
