"""What both WooCommerce streams share: their client, record mapping that never stops a
run, and the webhook watch each run starts with.

The watch: at the start of every run (not when resuming one) a stream checks the
subscriptions of its resource (:func:`~crmhub.plugins.woocommerce.health.check_webhooks`)
and re-enables disabled ones when configured to. Its state keeps ``webhooks_ok_at``: the
last check after which every subscription of the resource was active. When a check finds
one disabled or paused and ``webhooks_ok_at`` is set, deliveries may have been lost since
that moment: the run returns it as the *gap start* (orders re-read from it, customers run a
full pass). Then ``webhooks_ok_at`` moves to now if everything is active again (re-enabled),
or is cleared, so a webhook that stays off triggers that catch-up once, not on every run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from crmhub.core.errors import RemoteError
from crmhub.core.http import ApiClient
from crmhub.core.hub import Hub
from crmhub.core.instances import Instance
from crmhub.core.records import CanonicalRecord
from crmhub.core.sources import Page, Stream
from crmhub.plugins.woocommerce.client import woo_client
from crmhub.plugins.woocommerce.health import check_webhooks, delivery_url
from crmhub.plugins.woocommerce.settings import WooCommerceSettings

log = logging.getLogger("crmhub.plugins.woocommerce")
StateT = TypeVar("StateT", bound=BaseModel)


def batched(pages: Iterator[Page[StateT]], size: int) -> Iterator[Page[StateT]]:
    """Join consecutive pages until they hold ``size`` records; the joined page carries the
    last page's state and total, so resuming after it skips exactly what it holds."""
    held: list[Page[StateT]] = []
    try:
        for page in pages:
            held.append(page)
            if sum(len(p.records) for p in held) >= size:
                yield _join(held)
                held = []
        if held:
            yield _join(held)
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()


def _join(pages: list[Page[StateT]]) -> Page[StateT]:
    if len(pages) == 1:
        return pages[0]
    meta: dict[str, Any] = {}
    errors: list[Any] = []
    for page in pages:
        found = page.meta.get("errors")
        if isinstance(found, list):
            errors += found
        meta.update({k: v for k, v in page.meta.items() if k != "errors"})
    if errors:
        meta["errors"] = errors
    return Page(
        records=[r for p in pages for r in p.records],
        state=pages[-1].state,
        expected_total=pages[-1].expected_total,
        meta=meta,
    )


@dataclass
class Watch:
    """Outcome of the webhook watch of one run."""

    gap_since: datetime | None = None
    ok_at: datetime | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class WooStream(Stream[StateT], Generic[StateT]):
    """Base of the WooCommerce streams of one instance."""

    resource: ClassVar[str] = ""

    def __init__(self, hub: Hub, instance: Instance[WooCommerceSettings]) -> None:
        self.hub = hub
        self.instance = instance
        self.settings = instance.settings
        self.lookback = instance.settings.lookback_delta

    def read(self, state: StateT | None, *, full: bool) -> Iterator[Page[StateT]]:
        """Yield pages of at least ``commit_every`` records from ``state`` (one transaction
        per 100 records would spend more time committing than ingesting)."""
        return batched(self.pages(state, full=full), self.settings.commit_every)

    def pages(self, state: StateT | None, *, full: bool) -> Iterator[Page[StateT]]:
        """Yield one page per request (or per deletion check) from ``state``."""
        raise NotImplementedError

    def client(self) -> ApiClient:
        """A client for one run (closed by the run)."""
        return woo_client(self.hub, self.instance)

    def watch_webhooks(self, client: ApiClient, ok_at: datetime | None, now: datetime) -> Watch:
        """Check this resource's subscriptions (see the module docstring)."""
        url = delivery_url(self.hub, self.instance)
        try:
            check = check_webhooks(
                client, url, [self.resource], reenable=self.settings.reenable_webhooks
            )
        except RemoteError as exc:  # webhooks are an extra: their check never stops a sync
            log.warning("%s: cannot check webhooks: %s", self.instance.id, exc.message)
            return Watch(ok_at=ok_at, meta={"webhook_check_error": exc.message})
        watch = Watch(
            meta={
                "webhooks_inactive": [f"{s.id} {s.topic} {s.status}" for s in check.inactive],
                "webhooks_reenabled": [s.id for s in check.reenabled],
            }
        )
        if check.errors:
            watch.meta["webhook_check_error"] = "; ".join(check.errors)
        if check.inactive:
            watch.gap_since = ok_at
            log.warning(
                "%s: %s webhooks found inactive (%s); re-enabled: %s",
                self.instance.id,
                self.resource,
                watch.meta["webhooks_inactive"],
                watch.meta["webhooks_reenabled"] or "none",
            )
        watch.ok_at = now if check.subscriptions and check.healthy else None
        return watch

    def map_all(
        self, raws: list[dict[str, Any]], mapper: Callable[[str, dict[str, Any]], CanonicalRecord]
    ) -> tuple[list[CanonicalRecord], list[dict[str, Any]]]:
        """Map payloads; a payload that does not map is reported, not fatal."""
        records: list[CanonicalRecord] = []
        errors: list[dict[str, Any]] = []
        for raw in raws:
            try:
                records.append(mapper(self.instance.id, raw))
            except (KeyError, TypeError, ValueError) as exc:
                errors.append({"external_id": str(raw.get("id")), "error": str(exc)[:300]})
                log.warning(
                    "%s: skipped %s %s: %s", self.instance.id, self.resource, raw.get("id"), exc
                )
        return records, errors
