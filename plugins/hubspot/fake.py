"""A stateful fake of HubSpot's CRM v3 contacts and lists APIs on loopback.

``FakeHubSpot`` serves what the hubspot plugin reads and writes:

- ``GET /crm/v3/objects/contacts`` (``limit`` ≤ 100, else 400; ``after`` cursor returned as
  ``paging.next.after`` with a ``link``; ``properties``; ``archived=true`` lists the recycle
  bin), ``POST /crm/v3/objects/contacts`` (create), ``GET/PATCH/DELETE …/contacts/{id}``
  (``idProperty=email`` accepted; a merged-away id answers with the surviving contact);
- ``POST …/contacts/search``: ``filterGroups`` (≤ 5 groups, ≤ 10 filters each, ≤ 25 in all),
  ``sorts``, ``query``, ``properties``, ``limit`` ≤ 200 (the higher of the documented page
  sizes; more is a 400), ``after``. Only the first 10,000 results are reachable: an
  ``after`` of 10,000 or more is a 400. Search has its own limit of 4 requests per second
  per token (429) and, as observed on the real API, its answers carry no rate-limit headers;
- ``POST …/contacts/batch/upsert`` (≤ 100 inputs, else 400; ``idProperty: "email"``;
  duplicate ids in one batch are a 400; 200 with ``status``/``results[{id, new,
  properties}]``, or 207 with ``errors[]``/``numErrors`` when some inputs fail: malformed
  e-mail, unknown property, or a failure injected with :meth:`FakeHubSpot.fail_email`),
  ``batch/read`` (≤ 100; 207 with ``OBJECT_NOT_FOUND`` errors for missing ids),
  ``batch/archive`` (204), ``…/contacts/merge``;
- Lists v3: ``POST /crm/v3/lists/`` (``MANUAL``/``DYNAMIC``/``SNAPSHOT``),
  ``GET /crm/v3/lists/{id}``,
  ``GET /crm/v3/lists/object-type-id/0-1/name/{name}`` (404 when missing),
  ``PUT …/memberships/add-and-remove`` (answer ``{recordIdsMissing, recordIdsRemoved,
  recordsIdsAdded}``, spelling as HubSpot's), ``…/memberships/add``, ``…/memberships/remove``
  (bodies are JSON arrays of ids; only ``MANUAL``/``SNAPSHOT`` lists), ``GET …/memberships``
  (paged, ``limit`` ≤ 250), ``DELETE …/memberships``, ``DELETE /crm/v3/lists/{id}``.

``Authorization: Bearer <token>`` is required (401 otherwise). Every request spends one
unit of a rolling window per token (default 100 per 10 s) and of a daily budget; answers
carry ``X-HubSpot-RateLimit-Max``, ``-Remaining``, ``-Interval-Milliseconds``, ``-Daily``
and ``-Daily-Remaining``, and a spent window gives 429 with HubSpot's
``{"status":"error","message":"You have reached your secondly limit.","errorType":"RATE_LIMIT",
"policyName":"TEN_SECONDLY_ROLLING"}``. Webhooks go out through :meth:`FakeHubSpot.deliver`.
"""

from __future__ import annotations

import hmac
import json
import random
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from crmhub.core.testing.fake_controls import Clock, FaultPlan
from crmhub.core.testing.fake_service import FakeService, json_response
from crmhub.core.testing.people import Person, generate_people
from crmhub.plugins.hubspot.fake_contacts import LIFECYCLE_STAGES, Contact, ContactStore, hs_time
from crmhub.plugins.hubspot.fake_lists import ListStore
from crmhub.plugins.hubspot.fake_webhooks import (
    HubSpotDelivery,
    HubSpotWebhookSender,
    hubspot_signature_v1,
    hubspot_signature_v2,
    hubspot_signature_v3,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = [
    "FakeHubSpot",
    "RollingWindow",
    "hubspot_signature_v1",
    "hubspot_signature_v2",
    "hubspot_signature_v3",
]

C = "/crm/v3/objects/contacts"
L = "/crm/v3/lists"
BATCH_LIMIT = 100
SEARCH_LIMIT = 200
SEARCH_CAP = 10_000
LIST_LIMIT = 100
MEMBERSHIP_LIMIT = 250


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


def _error(status: int, message: str, category: str = "VALIDATION_ERROR", **extra: Any) -> Response:
    body = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }
    body.update(extra)
    return json_response(body, status)


async def _body(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"null")
    except ValueError:
        return None


def _props_param(request: Request) -> list[str] | None:
    values = request.query_params.getlist("properties")
    names = [p.strip() for v in values for p in v.split(",") if p.strip()]
    return names or None


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
        self.contacts = ContactStore(custom_properties=custom_properties)
        self.lists = ListStore()
        self.failing_emails: dict[str, str] = {}
        self.webhooks = HubSpotWebhookSender(portal_id, app_id, client_secret, self.now)
        self._search_cache: OrderedDict[tuple[Any, ...], list[int]] = OrderedDict()

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
        """The contacts and lists routes."""
        r = self.route
        return [
            r(C, "contacts.list", self._list_contacts, ("GET",)),
            r(C, "contacts.create", self._create_contact, ("POST",)),
            r(C + "/search", "contacts.search", self._search, ("POST",)),
            r(C + "/batch/upsert", "contacts.batch_upsert", self._batch_upsert, ("POST",)),
            r(C + "/batch/read", "contacts.batch_read", self._batch_read, ("POST",)),
            r(C + "/batch/archive", "contacts.batch_archive", self._batch_archive, ("POST",)),
            r(C + "/merge", "contacts.merge", self._merge, ("POST",)),
            r(C + "/{cid}", "contacts.get", self._get_contact, ("GET",)),
            r(C + "/{cid}", "contacts.update", self._patch_contact, ("PATCH",)),
            r(C + "/{cid}", "contacts.archive", self._delete_contact, ("DELETE",)),
            r(L + "/", "lists.create", self._create_list, ("POST",)),
            r(L, "lists.create", self._create_list, ("POST",)),
            r(
                L + "/object-type-id/{ot}/name/{name}",
                "lists.by_name",
                self._list_by_name,
                ("GET",),
            ),
            r(L + "/{lid:int}", "lists.get", self._get_list, ("GET",)),
            r(L + "/{lid:int}", "lists.delete", self._delete_list, ("DELETE",)),
            r(
                L + "/{lid:int}/memberships/add-and-remove",
                "lists.memberships_add_and_remove",
                self._add_and_remove,
                ("PUT",),
            ),
            r(
                L + "/{lid:int}/memberships/add",
                "lists.memberships_add",
                self._add_members,
                ("PUT",),
            ),
            r(
                L + "/{lid:int}/memberships/remove",
                "lists.memberships_remove",
                self._remove_members,
                ("PUT",),
            ),
            r(L + "/{lid:int}/memberships", "lists.memberships", self._get_members, ("GET",)),
            r(
                L + "/{lid:int}/memberships",
                "lists.memberships_clear",
                self._clear_members,
                ("DELETE",),
            ),
        ]

    def check_auth(self, request: Request) -> Response | None:
        """401 unless ``Authorization: Bearer <access_token>``."""
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if token and hmac.compare_digest(token.encode(), self.access_token.encode()):
            return None
        return _error(
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
            return _rate_error("You have reached your daily limit.", "DAILY")
        allowed, remaining = self.window.take(token)
        if not allowed:
            request.state.hs_rate = (self.window.limit, 0, self.daily_limit - used)
            return _rate_error("You have reached your secondly limit.", "TEN_SECONDLY_ROLLING")
        with self.lock:
            self._daily_used[token] = used + 1
        request.state.hs_rate = (self.window.limit, remaining, self.daily_limit - used - 1)
        if endpoint == "contacts.search":
            ok, _ = self.search_window.take(token)
            if not ok:
                return _rate_error("You have reached your secondly limit.", "SECONDLY")
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
        return _error(
            status, "internal error", "INTERNAL_ERROR" if status == 500 else "SERVICE_UNAVAILABLE"
        )

    def reset_limits(self) -> None:
        """Empty the rolling windows and the daily counters."""
        self.window.reset()
        self.search_window.reset()
        with self.lock:
            self._daily_used.clear()

    # == HTTP: contacts ===========================================================================

    async def _list_contacts(self, request: Request) -> Response:
        q = request.query_params
        try:
            limit = int(q.get("limit", 10))
            after = int(q["after"]) if q.get("after") else None
        except ValueError:
            return _error(400, "limit and after must be integers")
        if not 1 <= limit <= LIST_LIMIT:
            return _error(400, f"limit must be between 1 and {LIST_LIMIT}")
        archived = q.get("archived", "false").lower() == "true"
        props = _props_param(request)
        with self.lock:
            contacts, next_after = self.contacts.page(archived=archived, after=after, limit=limit)
            results = [c.as_json(props) for c in contacts]
        body: dict[str, Any] = {"results": results}
        if next_after is not None:
            base = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
            kept = [(k, v) for k, v in q.multi_items() if k != "after"] + [
                ("after", str(next_after))
            ]
            body["paging"] = {
                "next": {"after": str(next_after), "link": f"{base}?{urlencode(kept)}"}
            }
        return json_response(body)

    async def _create_contact(self, request: Request) -> Response:
        body = await _body(request)
        props = (body or {}).get("properties") if isinstance(body, dict) else None
        if not isinstance(props, dict):
            return _error(400, "Invalid input JSON: properties is required")
        with self.lock:
            problems = self.contacts.problems(props)
            if problems:
                return _error(400, "Property values were not valid", errors=problems)
            if props.get("email") and self.contacts.find_email(str(props["email"])) is not None:
                existing = self.contacts.find_email(str(props["email"]))
                assert existing is not None
                return _error(
                    409, f"Contact already exists. Existing ID: {existing.id}", "CONFLICT"
                )
            contact = self.contacts.create(props, self.now())
            return json_response(contact.as_json(contact.properties), 201)

    def _lookup(self, request: Request) -> Contact | None:
        key = request.path_params["cid"]
        archived = request.query_params.get("archived", "false").lower() == "true"
        if request.query_params.get("idProperty") == "email":
            contact = self.contacts.find_email(key)
        else:
            try:
                contact = self.contacts.resolve(int(key))
            except ValueError:
                return None
        if contact is None or contact.archived != archived:
            return None
        return contact

    def _not_found(self, request: Request) -> Response:
        return _error(
            404,
            "Object not found.  objectId are usually numeric.",
            "OBJECT_NOT_FOUND",
            context={"id": [request.path_params["cid"]]},
        )

    async def _get_contact(self, request: Request) -> Response:
        with self.lock:
            contact = self._lookup(request)
            if contact is None:
                return self._not_found(request)
            return json_response(contact.as_json(_props_param(request)))

    async def _patch_contact(self, request: Request) -> Response:
        body = await _body(request)
        props = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(props, dict):
            return _error(400, "Invalid input JSON: properties is required")
        with self.lock:
            contact = self._lookup(request)
            if contact is None:
                return self._not_found(request)
            problems = self.contacts.problems(props)
            if problems:
                return _error(400, "Property values were not valid", errors=problems)
            self.contacts.update(contact, props, self.now())
            return json_response(contact.as_json(contact.properties))

    async def _delete_contact(self, request: Request) -> Response:
        with self.lock:
            contact = self._lookup(request)
            if contact is not None:
                self.contacts.archive(contact, self.now())
        return Response(status_code=204)

    async def _merge(self, request: Request) -> Response:
        body = await _body(request)
        try:
            primary, other = int(body["primaryObjectId"]), int(body["objectIdToMerge"])
            merged = self.merge(primary, other)
        except (TypeError, KeyError, ValueError):
            return _error(
                400,
                "Invalid merge request: primaryObjectId and objectIdToMerge must be live contacts",
            )
        return json_response(merged)

    async def _batch_upsert(self, request: Request) -> Response:
        body = await _body(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list):
            return _error(400, "Invalid input JSON on line 1: inputs is required")
        if len(inputs) > BATCH_LIMIT:
            return _error(
                400, f"Batch input limit is {BATCH_LIMIT}; got {len(inputs)} inputs", context={}
            )
        keys = [str(i.get("id", "")).strip().lower() for i in inputs if isinstance(i, dict)]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            return _error(
                400, f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique"
            )
        started = hs_time(self.now())
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        with self.lock:
            for item in inputs:
                outcome = self._upsert_one(item if isinstance(item, dict) else {})
                (errors if outcome.get("status") == "error" else results).append(outcome)
        payload: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": hs_time(self.now()),
        }
        if errors:
            payload["numErrors"] = len(errors)
            payload["errors"] = errors
            return json_response(payload, 207)
        return json_response(payload)

    def _upsert_one(self, item: dict[str, Any]) -> dict[str, Any]:
        key = str(item.get("id", "")).strip()
        id_property = item.get("idProperty") or "hs_object_id"
        props = item.get("properties") or {}
        if not isinstance(props, dict):
            props = {}
        problems = self.contacts.problems(props)
        if id_property == "email":
            problems.extend(self.contacts.problems({"email": key or "(empty)"}))
            injected = self.failing_emails.get(key.lower())
            if injected:
                problems.append({"message": injected, "error": "INJECTED_FAILURE", "name": "email"})
        elif id_property != "hs_object_id":
            return _batch_error(
                "VALIDATION_ERROR",
                f"Unable to perform update/upsert by non-unique 0-1 property {id_property}",
                key,
            )
        if problems:
            return _batch_error(
                "VALIDATION_ERROR",
                "Property values were not valid: " + "; ".join(p["message"] for p in problems),
                key,
                errors=problems,
            )
        now = self.now()
        if id_property == "email":
            contact = self.contacts.find_email(key)
            created = contact is None
            if contact is None:
                contact = self.contacts.create({**props, "email": key}, now)
            else:
                self.contacts.update(contact, {k: v for k, v in props.items() if k != "email"}, now)
        else:
            try:
                found = self.contacts.resolve(int(key))
            except ValueError:
                found = None
            if found is None or found.archived:
                return _batch_error("OBJECT_NOT_FOUND", f"Object {key} not found", key)
            contact, created = found, False
            self.contacts.update(contact, props, now)
        names = (
            list(props)
            + ["email"] * (id_property == "email")
            + ["hs_object_id", "createdate", "lastmodifieddate"]
        )
        out = contact.as_json(dict.fromkeys(names))
        out["new"] = created
        return out

    async def _batch_read(self, request: Request) -> Response:
        body = await _body(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list):
            return _error(400, "Invalid input JSON on line 1: inputs is required")
        if len(inputs) > BATCH_LIMIT:
            return _error(400, f"Batch input limit is {BATCH_LIMIT}; got {len(inputs)} inputs")
        props = body.get("properties") or None
        by_email = body.get("idProperty") == "email"
        archived = request.query_params.get("archived", "false").lower() == "true"
        started = hs_time(self.now())
        results, missing = [], []
        with self.lock:
            for item in inputs:
                key = str((item or {}).get("id", "")).strip()
                if by_email:
                    contact = self.contacts.find_email(key)
                else:
                    contact = self.contacts.resolve(int(key)) if key.isdigit() else None
                if contact is None or contact.archived != archived:
                    missing.append(key)
                else:
                    results.append(contact.as_json(props))
        payload: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": hs_time(self.now()),
        }
        if missing:
            payload["numErrors"] = 1
            payload["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "Could not get some CONTACT objects, they may be deleted or "
                    "not exist. "
                    "Check that ids are valid.",
                    "context": {"ids": missing},
                }
            ]
            return json_response(payload, 207)
        return json_response(payload)

    async def _batch_archive(self, request: Request) -> Response:
        body = await _body(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list):
            return _error(400, "Invalid input JSON on line 1: inputs is required")
        if len(inputs) > BATCH_LIMIT:
            return _error(400, f"Batch input limit is {BATCH_LIMIT}; got {len(inputs)} inputs")
        with self.lock:
            for item in inputs:
                key = str((item or {}).get("id", ""))
                contact = self.contacts.contacts.get(int(key)) if key.isdigit() else None
                if contact is not None:
                    self.contacts.archive(contact, self.now())
        return Response(status_code=204)

    async def _search(self, request: Request) -> Response:
        body = await _body(request)
        if not isinstance(body, dict):
            body = {}
        try:
            limit = int(body.get("limit", 10))
            after = int(body.get("after") or 0)
        except (TypeError, ValueError):
            return _error(400, "limit and after must be integers")
        if not 0 <= limit <= SEARCH_LIMIT:
            return _error(400, f"limit must be between 0 and {SEARCH_LIMIT}")
        if after >= SEARCH_CAP:
            return _error(
                400,
                f"Search can page through at most {SEARCH_CAP} results (after={after}); "
                "narrow the query with filters to read further.",
            )
        groups = body.get("filterGroups") or []
        n_filters = sum(len(g.get("filters", [])) for g in groups)
        if len(groups) > 5 or any(len(g.get("filters", [])) > 10 for g in groups) or n_filters > 25:
            return _error(
                400,
                "Too many filters: at most 5 filterGroups, 10 filters per group and 25 in total",
            )
        sorts = body.get("sorts") or []
        key = json.dumps([groups, sorts, body.get("query")], sort_keys=True)
        with self.lock:
            cache_key = (self.contacts.version, key)
            ids = self._search_cache.get(cache_key)
            if ids is None:
                ids = self.contacts.search(groups, sorts, body.get("query"))
                self._search_cache[cache_key] = ids
                while len(self._search_cache) > 16:
                    self._search_cache.popitem(last=False)
            reachable = min(len(ids), SEARCH_CAP)
            end = min(after + limit, reachable)
            props = body.get("properties") or None
            results = [self.contacts.contacts[c].as_json(props) for c in ids[after:end]]
        payload: dict[str, Any] = {"total": len(ids), "results": results}
        if end < reachable and limit > 0:
            payload["paging"] = {"next": {"after": str(end)}}
        return json_response(payload)

    # == HTTP: lists ==============================================================================

    async def _create_list(self, request: Request) -> Response:
        body = await _body(request)
        if not isinstance(body, dict) or not body.get("name"):
            return _error(400, "name is required")
        try:
            with self.lock:
                lst = self.lists.create(
                    str(body["name"]),
                    body.get("processingType", "MANUAL"),
                    str(body.get("objectTypeId", "0-1")),
                    self.now(),
                    body.get("filterBranch"),
                )
        except ValueError as exc:
            return _error(400, str(exc))
        return json_response({"list": lst.as_json()})

    async def _list_by_name(self, request: Request) -> Response:
        with self.lock:
            lst = self.lists.by_name(request.path_params["ot"], request.path_params["name"])
            if lst is None:
                return _error(
                    404,
                    f"List does not exist with name {request.path_params['name']}",
                    "OBJECT_NOT_FOUND",
                )
            return json_response({"list": lst.as_json()})

    async def _get_list(self, request: Request) -> Response:
        with self.lock:
            lst = self.lists.lists.get(request.path_params["lid"])
            if lst is None:
                return _error(
                    404,
                    f"List does not exist with id {request.path_params['lid']}",
                    "OBJECT_NOT_FOUND",
                )
            return json_response({"list": lst.as_json()})

    async def _delete_list(self, request: Request) -> Response:
        with self.lock:
            self.lists.lists.pop(request.path_params["lid"], None)
        return Response(status_code=204)

    async def _change_members(self, request: Request, to_add: Any, to_remove: Any) -> Response:
        lid = request.path_params["lid"]
        with self.lock:
            lst = self.lists.lists.get(lid)
            if lst is None:
                return _error(404, f"List does not exist with id {lid}", "OBJECT_NOT_FOUND")
            if not lst.manual:
                return _error(
                    400,
                    f"List {lid} has processingType {lst.processing_type}; memberships can only be "
                    "changed on MANUAL and SNAPSHOT lists",
                )
            missing: list[str] = []
            added: list[str] = []
            removed: list[str] = []
            now = self.now()
            for raw in to_add:
                rid = int(raw) if str(raw).isdigit() else None
                contact = self.contacts.resolve(rid) if rid is not None else None
                if contact is None or contact.archived:
                    missing.append(str(raw))
                elif lst.add(contact.id, now):
                    added.append(str(contact.id))
            for raw in to_remove:
                rid = int(raw) if str(raw).isdigit() else None
                if rid is None:
                    missing.append(str(raw))
                elif lst.remove(rid):
                    removed.append(str(rid))
            if added or removed:
                lst.updated = now
            return json_response(
                {"recordIdsMissing": missing, "recordIdsRemoved": removed, "recordsIdsAdded": added}
            )

    async def _add_and_remove(self, request: Request) -> Response:
        body = await _body(request)
        if not isinstance(body, dict):
            return _error(400, "Invalid input JSON: expected {recordIdsToAdd, recordIdsToRemove}")
        return await self._change_members(
            request, body.get("recordIdsToAdd") or [], body.get("recordIdsToRemove") or []
        )

    async def _add_members(self, request: Request) -> Response:
        body = await _body(request)
        if not isinstance(body, list):
            return _error(400, "Invalid input JSON: expected an array of record ids")
        return await self._change_members(request, body, [])

    async def _remove_members(self, request: Request) -> Response:
        body = await _body(request)
        if not isinstance(body, list):
            return _error(400, "Invalid input JSON: expected an array of record ids")
        return await self._change_members(request, [], body)

    async def _get_members(self, request: Request) -> Response:
        lid = request.path_params["lid"]
        q = request.query_params
        try:
            limit = int(q.get("limit", 100))
            after = int(q["after"]) if q.get("after") else None
        except ValueError:
            return _error(400, "limit and after must be integers")
        if not 1 <= limit <= MEMBERSHIP_LIMIT:
            return _error(400, f"limit must be between 1 and {MEMBERSHIP_LIMIT}")
        with self.lock:
            lst = self.lists.lists.get(lid)
            if lst is None:
                return _error(404, f"List does not exist with id {lid}", "OBJECT_NOT_FOUND")
            ids, next_after = lst.page(after, limit)
            results = [
                {"recordId": str(i), "membershipTimestamp": hs_time(lst.members[i])} for i in ids
            ]
        body: dict[str, Any] = {"results": results, "total": len(lst.members)}
        if next_after is not None:
            body["paging"] = {"next": {"after": str(next_after)}}
        return json_response(body)

    async def _clear_members(self, request: Request) -> Response:
        with self.lock:
            lst = self.lists.lists.get(request.path_params["lid"])
            if lst is not None and lst.manual:
                lst.members.clear()
                lst.order.clear()
        return Response(status_code=204)


def _rate_error(message: str, policy: str) -> Response:
    return json_response(
        {
            "status": "error",
            "message": message,
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": policy,
        },
        429,
    )


def _batch_error(category: str, message: str, key: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": {"ids": [key]},
        **extra,
    }


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
