"""The HubSpot CRM v3 calls crmhub makes, over the shared HTTP client and rate limiter.

One :class:`HubSpotClient` per instance and hub (:func:`hubspot_client`). Every call spends
the account's rolling 10-second window, shared by all workers through the hub's limiter
backend and corrected by the ``X-HubSpot-RateLimit-*`` headers; search calls also spend
their own per-second window (search answers carry no rate-limit headers). A 429 pauses
the whole account; one naming the ``DAILY`` policy is re-raised with an hour's
``retry_after``, since retrying sooner cannot help.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
from crmhub.core.errors import PermanentRemoteError, RateLimited
from crmhub.core.http import ApiClient, HubSpotRateLimitHeaders, SlidingWindow, rate_limiter
from crmhub.core.http.ratelimit import RateLimiter

if TYPE_CHECKING:
    from crmhub.core.hub import Hub
    from crmhub.core.instances import Instance
    from crmhub.plugins.hubspot.settings import HubSpotSettings

CONTACTS = "crm/v3/objects/contacts"
LISTS = "crm/v3/lists"
CONTACT_TYPE = "0-1"
BATCH_LIMIT = 100
DAILY_RETRY_SECONDS = 3600.0


class HubSpotClient:
    """Typed access to the contacts and lists endpoints of one HubSpot account.

    :param settings: the instance's settings (base URL, token, limits).
    :param instance: the instance id carried by errors (``hubspot.main``).
    :param limiter: the account's shared limiter (general window).
    :param transport: an httpx transport, for byte-level tests only.
    """

    def __init__(
        self,
        settings: HubSpotSettings,
        *,
        instance: str,
        limiter: RateLimiter,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        token = settings.access_token.get_secret_value()
        self.limiter = limiter
        self.search_limiter = limiter.extend(search=SlidingWindow(settings.search_per_second, 1.0))
        self.api = ApiClient(
            str(settings.base_url),
            headers={"Authorization": f"Bearer {token}"},
            limiter=limiter,
            instance=instance,
            transport=transport,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self.api.close()

    # -- plumbing ------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        search: bool = False,
    ) -> httpx.Response:
        """One request; 2xx (207 included) is returned, errors raised as crmhub errors."""
        try:
            return self.api.request(
                method, path, params=params, json=json,
                limiter=self.search_limiter if search else None,
            )
        except RateLimited as exc:
            if _policy(exc.response) == "DAILY":
                raise RateLimited(
                    f"{exc.message} (HubSpot's daily API limit is spent; it resets at midnight "
                    "in the account's time zone)",
                    retry_after=DAILY_RETRY_SECONDS, request=exc.request, response=exc.response,
                    instance=exc.instance,
                ) from None
            raise

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """A request whose answer is JSON (an empty body is ``{}``)."""
        response = self.call(method, path, **kwargs)
        return response.json() if response.content else {}

    # -- contacts ------------------------------------------------------------------------------

    def list_contacts(
        self, properties: Sequence[str], *, after: str | None, archived: bool = False, limit: int = 100
    ) -> dict[str, Any]:
        """One page of ``GET /crm/v3/objects/contacts`` in id order."""
        params: dict[str, Any] = {
            "limit": limit, "properties": ",".join(properties), "archived": str(archived).lower(),
        }
        if after:
            params["after"] = after
        result: dict[str, Any] = self.json("GET", CONTACTS, params=params)
        return result

    def search_contacts(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /crm/v3/objects/contacts/search`` under the search limit."""
        result: dict[str, Any] = self.json("POST", f"{CONTACTS}/search", json=body, search=True)
        return result

    def read_contacts(self, ids: Iterable[str], properties: Sequence[str]) -> list[dict[str, Any]]:
        """Contacts by id (merged ids answer with the surviving contact); missing ones are
        left out. Batches of 100."""
        found: list[dict[str, Any]] = []
        for chunk in _chunks(list(dict.fromkeys(ids)), BATCH_LIMIT):
            body = {"inputs": [{"id": i} for i in chunk], "properties": list(properties)}
            found += self.json("POST", f"{CONTACTS}/batch/read", json=body).get("results", [])
        return found

    def read_contacts_by_email(self, emails: Sequence[str]) -> dict[str, str]:
        """email (lower-case) → contact id for the emails HubSpot knows (≤ 100)."""
        body = {"idProperty": "email", "inputs": [{"id": e} for e in emails], "properties": ["email"]}
        answer = self.json("POST", f"{CONTACTS}/batch/read", json=body)
        return {
            str(r["properties"].get("email") or "").lower(): str(r["id"])
            for r in answer.get("results", [])
        }

    def upsert_by_email(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        """``batch/upsert`` keyed by email: ``[{"id": email, "properties": {...}}]`` (≤ 100).
        A 207 answer lists the inputs that failed under ``errors``."""
        body = {"inputs": [{"idProperty": "email", **item} for item in inputs]}
        result: dict[str, Any] = self.json("POST", f"{CONTACTS}/batch/upsert", json=body)
        return result

    def update_by_id(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        """``batch/update`` by contact id: ``[{"id": "151", "properties": {...}}]`` (≤ 100)."""
        result: dict[str, Any] = self.json("POST", f"{CONTACTS}/batch/update", json={"inputs": inputs})
        return result

    def gdpr_delete(self, object_id: str, *, by_email: bool = False) -> None:
        """Delete a contact permanently (``gdpr-delete``); by email, an unknown address is
        blocklisted by HubSpot. An unknown id is already gone."""
        body: dict[str, Any] = {"objectId": object_id}
        if by_email:
            body["idProperty"] = "email"
        try:
            self.call("POST", f"{CONTACTS}/gdpr-delete", json=body)
        except PermanentRemoteError as exc:
            if exc.status_code != 404:
                raise

    # -- lists ---------------------------------------------------------------------------------

    def list_by_name(self, name: str) -> dict[str, Any] | None:
        """The contact list named ``name``, or None."""
        path = f"{LISTS}/object-type-id/{CONTACT_TYPE}/name/{quote(name, safe='')}"
        try:
            found: dict[str, Any] = self.json("GET", path).get("list") or {}
        except PermanentRemoteError as exc:
            if exc.status_code == 404:
                return None
            raise
        return found or None

    def create_list(self, name: str) -> dict[str, Any]:
        """Create a MANUAL contact list."""
        body = {"name": name, "objectTypeId": CONTACT_TYPE, "processingType": "MANUAL"}
        created: dict[str, Any] = self.json("POST", f"{LISTS}/", json=body)["list"]
        return created

    def change_members(self, list_id: str, add: list[str], remove: list[str]) -> dict[str, Any]:
        """``memberships/add-and-remove``: answers ``{recordIdsMissing, recordIdsRemoved,
        recordsIdsAdded}``."""
        body = {"recordIdsToAdd": add, "recordIdsToRemove": remove}
        result: dict[str, Any] = self.json(
            "PUT", f"{LISTS}/{list_id}/memberships/add-and-remove", json=body
        )
        return result


def _policy(response: httpx.Response | None) -> str | None:
    try:
        return str(response.json().get("policyName")) if response is not None else None
    except (ValueError, AttributeError):
        return None


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def account_key(settings: HubSpotSettings) -> str:
    """The limiter key of the account behind a token: every instance and worker using the
    same token shares one budget (the token itself never leaves the process)."""
    token = settings.access_token.get_secret_value()
    digest = hashlib.sha256(f"{settings.base_url}|{token}".encode()).hexdigest()[:16]
    return f"hubspot:{digest}"


def hubspot_client(hub: Hub, instance: Instance[HubSpotSettings]) -> HubSpotClient:
    """The hub's client for an instance (built once, closed with the hub)."""
    settings = instance.settings

    def build(built: Hub) -> HubSpotClient:
        window = SlidingWindow(settings.requests_per_10s, 10.0, safety_margin=0.05, learn=True)
        limiter = rate_limiter(
            built, account_key(settings), {"general": window},
            header_policy=HubSpotRateLimitHeaders("general"),
        )
        return HubSpotClient(settings, instance=instance.id, limiter=limiter)

    client: HubSpotClient = hub.service(f"hubspot.client:{instance.id}", build)
    return client
