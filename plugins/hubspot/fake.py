"""A stateful fake of HubSpot's CRM v3 contacts and lists APIs on loopback.

``FakeHubSpot`` holds a portal's contacts (:mod:`.fake_contacts`) and lists
(:mod:`.fake_lists`) and serves them through the endpoints in :mod:`.fake_contacts_api` and
:mod:`.fake_lists_api`, behind the guard every HubSpot call passes:

- ``Authorization: Bearer <token>`` must carry the private-app token (401 otherwise);
- every call spends one unit of a rolling window per token (default 100 per 10 s, HubSpot's
  free/starter figure) and of a daily budget (250,000); answers carry
  ``X-HubSpot-RateLimit-Max``, ``-Remaining``, ``-Interval-Milliseconds``, ``-Daily`` and
  ``-Daily-Remaining``; a spent window gives 429 with ``{"status":"error","message":"You have
  reached your secondly limit.","errorType":"RATE_LIMIT","policyName":"TEN_SECONDLY_ROLLING"}``
  (``DAILY`` for the daily budget);
- search has its own limit of 4 calls per second per token (policy ``SECONDLY``) and, as
  observed on the real API, its answers carry no rate-limit headers;
- injected 5xx and latency (``fake.faults``) and per-endpoint counters (``fake.counters``,
  e.g. ``fake.counters["contacts.batch_upsert"]``).

Python-side mutations (:meth:`FakeHubSpot.seed`, ``add_contact``, ``update_contact``,
``merge`` …) are thread-safe. Webhooks go out through :meth:`FakeHubSpot.deliver`, signed
v1, v2 or v3 (:mod:`.fake_webhooks`).
"""

from __future__ import annotations

import hmac
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crmhub.core.testing.fake_controls import Clock, FaultPlan
from crmhub.core.testing.fake_service import FakeService
from crmhub.core.testing.people import Person, generate_people
from crmhub.plugins.hubspot.fake_contacts import LIFECYCLE_STAGES, Contact, ContactStore
from crmhub.plugins.hubspot.fake_contacts_api import ContactsApi
from crmhub.plugins.hubspot.fake_lists import ListStore
from crmhub.plugins.hubspot.fake_lists_api import ListsApi
from crmhub.plugins.hubspot.fake_responses import hs_error, rate_error
from crmhub.plugins.hubspot.fake_webhooks import (
    HubSpotDelivery,
    HubSpotWebhookSender,
    hubspot_signature_v1,
    hubspot_signature_v2,
    hubspot_signature_v3,
)

__all__ = [
    "FakeHubSpot",
    "RollingWindow",
    "hubspot_signature_v1",
    "hubspot_signature_v2",
    "hubspot_signature_v3",
]


class RollingWindow:
    """A rolling-window limiter per key: at most ``limit`` calls in any ``interval`` seconds."""

    def __init__(
        self, limit: int, interval: float, time_fn: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.interval = interval
        self._time = time_fn
        self._lock = threading.Lock()
        self._calls: dict[str, deque[float]] = {}

    def take(self, key: str) -> tuple[bool, int]:
        """Try to spend one call; returns (allowed, calls remaining in the window)."""
        with self._lock:
            now = self._time()
            calls = self._calls.setdefault(key, deque())
            while calls and calls[0] <= now - self.interval:
                calls.popleft()
            if len(calls) >= self.limit:
                return False, 0
            calls.append(now)
            return True, self.limit - len(calls)

    def reset(self) -> None:
        """Forget all calls."""
        with self._lock:
            self._calls.clear()


class FakeHubSpot(FakeService):
    """In-memory HubSpot portal: contacts, lists, rate limits, signed webhooks.

    :param access_token: the private-app token ``Authorization: Bearer`` must carry.
    :param client_secret: the app secret that signs webhooks.
    :param portal_id: account id in events; :param app_id: app id in events.
    :param rate_limit: False switches all limits off (headers still sent).
    :param max_per_interval: calls per rolling window (100 for free/starter apps).
    :param interval_ms: window length in milliseconds (10,000).
    :param daily_limit: calls per day (250,000).
    :param search_per_second: search calls per second per token (4).
    :param custom_properties: extra contact properties the portal knows (``crmhub_*`` always are).
    :param strict_properties: False accepts any property name (a real portal refuses names it
        does not have with ``PROPERTY_DOESNT_EXIST``, which is the default here).
    :param clock: the fake's clock; :param faults: initial fault plan.
    """

    def __init__(
        self,
        *,
        access_token: str = "pat-na1-test-token",
        client_secret: str = "hubspot-client-secret",
        portal_id: int = 62515,
        app_id: int = 1160452,
        rate_limit: bool = True,
        max_per_interval: int = 100,
        interval_ms: int = 10_000,
        daily_limit: int = 250_000,
        search_per_second: int = 4,
        custom_properties: Iterable[str] = (),
        strict_properties: bool = True,
        clock: Clock | None = None,
        faults: FaultPlan | None = None,
    ) -> None:
        super().__init__(clock=clock, faults=faults)
        self.access_token = access_token
        self.client_secret = client_secret
        self.portal_id = portal_id
        self.rate_limit = rate_limit
        self.interval_ms = interval_ms
        self.daily_limit = daily_limit
        self.window = RollingWindow(max_per_interval, interval_ms / 1000.0)
        self.search_window = RollingWindow(search_per_second, 1.0)
        self._daily_used: dict[str, int] = {}
        self.contacts = ContactStore(custom_properties=custom_properties, strict=strict_properties)
        self.lists = ListStore()
        self.failing_emails: dict[str, str] = {}
        self.webhooks = HubSpotWebhookSender(portal_id, app_id, client_secret, self.now)

    # == data =====================================================================================

    def seed(
        self, n_contacts: int = 50, *, seed: int = 0, people: Sequence[Person] | None = None
    ) -> None:
        """Add contacts created over the past two years, most of them modified since.

        :param people: use these people (e.g. an overlap with the shops) instead of generating.
        """
        rng = random.Random(seed)
        now = self.now()
        people = (
            list(people) if people is not None else generate_people(n_contacts, seed=seed + 303)
        )
        with self.lock:
            for person in people:
                if self.contacts.find_email(person.email) is not None:
                    continue
                created = now - timedelta(days=rng.uniform(1, 730))
                contact = self.contacts.create(_person_properties(person, rng), created)
                if rng.random() < 0.7:
                    self.contacts.touch(contact, created + (now - created) * rng.random())

    def add_contact(
        self, properties: dict[str, Any] | None = None, *, person: Person | None = None
    ) -> dict[str, Any]:
        """Create a contact now from ``properties`` (or a person); returns all its properties."""
        with self.lock:
            props = dict(properties or {})
            if person is not None:
                props = {**_person_properties(person, random.Random(person.key)), **props}
            contact = self.contacts.create(props, self.now())
            return contact.as_json(contact.properties)

    def update_contact(self, contact_id: int, **properties: Any) -> dict[str, Any]:
        """Set properties of a contact now (``lastmodifieddate`` moves if something changed)."""
        with self.lock:
            contact = self._live(contact_id)
            self.contacts.update(contact, properties, self.now())
            return contact.as_json(contact.properties)

    def archive_contact(self, contact_id: int) -> None:
        """Archive (delete) a contact."""
        with self.lock:
            self.contacts.archive(self._live(contact_id), self.now())

    def merge(self, primary_id: int, merged_id: int) -> dict[str, Any]:
        """Merge contact ``merged_id`` into ``primary_id``; returns the surviving contact."""
        with self.lock:
            primary, merged = self._live(primary_id), self._live(merged_id)
            if primary.id == merged.id:
                raise ValueError("cannot merge a contact into itself")
            self.contacts.merge(primary, merged, self.now())
            return primary.as_json(primary.properties)

    def contact(self, contact_id: int) -> dict[str, Any]:
        """A contact with all its properties (merged ids resolve; KeyError when unknown)."""
        with self.lock:
            contact = self.contacts.resolve(int(contact_id))
            if contact is None:
                raise KeyError(contact_id)
            return contact.as_json(contact.properties)

    def find_contact(self, email: str) -> dict[str, Any] | None:
        """The live contact with this e-mail (case-insensitive), or None."""
        with self.lock:
            contact = self.contacts.find_email(email)
            return contact.as_json(contact.properties) if contact else None

    @property
    def contact_ids(self) -> list[int]:
        """Ids of live contacts, ascending."""
        with self.lock:
            return list(self.contacts.live_ids)

    def define_property(self, name: str) -> None:
        """Create a custom contact property."""
        with self.lock:
            self.contacts.define_property(name)

    def fail_email(self, email: str, message: str = "Injected failure for this record") -> None:
        """Make batch upserts of this e-mail fail (reported in a 207 answer)."""
        with self.lock:
            self.failing_emails[email.strip().lower()] = message

    def create_list(self, name: str, processing_type: str = "MANUAL") -> dict[str, Any]:
        """Create a contact list; returns its ``list`` object."""
        with self.lock:
            return self.lists.create(name, processing_type, "0-1", self.now()).as_json()

    def list_members(self, list_id: int | str) -> list[str]:
        """Record ids in a list, ascending."""
        with self.lock:
            return [str(i) for i in self.lists.lists[int(list_id)].order]

    def _live(self, contact_id: int) -> Contact:
        contact = self.contacts.contacts.get(int(contact_id))
        if contact is None or contact.archived:
            raise KeyError(contact_id)
        return contact

    # == webhooks =================================================================================

    def event(self, subscription_type: str, object_id: int | str, **fields: Any) -> dict[str, Any]:
        """Build one webhook event; see :meth:`HubSpotWebhookSender.event`."""
        return self.webhooks.event(subscription_type, object_id, **fields)

    def deliver(
        self, url: str, events: Sequence[dict[str, Any]] | bytes, **options: Any
    ) -> httpx.Response:
        """Deliver events signed v1/v2/v3; see :meth:`HubSpotWebhookSender.deliver`."""
        return self.webhooks.deliver(url, events, **options)

    @property
    def deliveries(self) -> list[HubSpotDelivery]:
        """Every delivery sent so far."""
        return self.webhooks.deliveries

    # == HTTP: plumbing ===========================================================================

    def routes(self) -> list[Route]:
        """The contacts and lists routes (:mod:`.fake_contacts_api`, :mod:`.fake_lists_api`)."""
        return ContactsApi(self).routes() + ListsApi(self).routes()

    def check_auth(self, request: Request) -> Response | None:
        """401 unless ``Authorization: Bearer <access_token>``."""
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if token and hmac.compare_digest(token.encode(), self.access_token.encode()):
            return None
        return hs_error(
            401,
            "Authentication credentials not found. This API supports OAuth 2.0 authentication "
            "and you "
            "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            "INVALID_AUTHENTICATION",
        )

    def check_rate(self, request: Request, endpoint: str) -> Response | None:
        """Spend the rolling window, the daily budget and (for search) the per-second budget."""
        token = self.access_token
        with self.lock:
            used = self._daily_used.get(token, 0)
        if not self.rate_limit:
            request.state.hs_rate = (
                self.window.limit,
                self.window.limit - 1,
                self.daily_limit - used,
            )
            return None
        if used >= self.daily_limit:
            request.state.hs_rate = (self.window.limit, 0, 0)
            return rate_error("You have reached your daily limit.", "DAILY")
        allowed, remaining = self.window.take(token)
        if not allowed:
            request.state.hs_rate = (self.window.limit, 0, self.daily_limit - used)
            return rate_error("You have reached your secondly limit.", "TEN_SECONDLY_ROLLING")
        with self.lock:
            self._daily_used[token] = used + 1
        request.state.hs_rate = (self.window.limit, remaining, self.daily_limit - used - 1)
        if endpoint == "contacts.search":
            ok, _ = self.search_window.take(token)
            if not ok:
                return rate_error("You have reached your secondly limit.", "SECONDLY")
        return None

    def decorate(self, request: Request, endpoint: str, response: Response) -> None:
        """Rate-limit headers on every answer except search answers."""
        state = getattr(request.state, "hs_rate", None)
        if state is None or endpoint == "contacts.search":
            return
        limit, remaining, daily_left = state
        response.headers["X-HubSpot-RateLimit-Max"] = str(limit)
        response.headers["X-HubSpot-RateLimit-Remaining"] = str(remaining)
        response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(self.interval_ms)
        response.headers["X-HubSpot-RateLimit-Daily"] = str(self.daily_limit)
        response.headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(daily_left, 0))

    def fault_response(self, status: int) -> Response:
        """HubSpot-style error bodies for injected 5xx."""
        if status == 502:
            return super().fault_response(status)
        return hs_error(
            status, "internal error", "INTERNAL_ERROR" if status == 500 else "SERVICE_UNAVAILABLE"
        )

    def reset_limits(self) -> None:
        """Empty the rolling windows and the daily counters."""
        self.window.reset()
        self.search_window.reset()
        with self.lock:
            self._daily_used.clear()


def _person_properties(person: Person, rng: random.Random) -> dict[str, Any]:
    return {
        "email": person.email,
        "firstname": person.first_name,
        "lastname": person.last_name,
        "phone": person.phone,
        "company": person.company,
        "city": person.address.city,
        "country": person.address.country,
        "lifecyclestage": rng.choice(LIFECYCLE_STAGES[:6]),
        "hs_email_optout": "true" if rng.random() < 0.05 else "false",
    }
