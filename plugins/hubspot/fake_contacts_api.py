"""Contacts endpoints of the fake HubSpot (CRM v3 ``/crm/v3/objects/contacts``).

- ``GET …/contacts``: ``limit`` ≤ 100 (more is a 400), ``after`` cursor returned as
  ``paging.next.after`` with a ``link``, ``properties``, ``archived=true`` for the recycle bin;
  ``POST …/contacts`` creates; ``GET/PATCH/DELETE …/contacts/{id}`` (``idProperty=email``
  accepted; an id merged away answers with the surviving contact);
- ``POST …/search``: ``filterGroups`` (≤ 5 groups, ≤ 10 filters each, ≤ 25 in all), ``sorts``,
  ``query``, ``properties``, ``limit`` ≤ 200 (the larger of the page sizes reported for the
  real API; more is a 400) and ``after``; only the first 10,000 results are reachable, an
  ``after`` of 10,000 or more is a 400. A result list is computed once per query and data
  version, then sliced;
- ``POST …/batch/upsert`` (≤ 100 inputs, else 400; duplicate ids in one batch are a 400;
  ``idProperty: "email"`` creates or updates; 200 with ``results[{id, new, properties}]``, or
  207 with ``errors[]`` and ``numErrors`` when some inputs fail), ``batch/read`` (≤ 100; 207
  with ``OBJECT_NOT_FOUND`` for missing ids), ``batch/update`` by id (≤ 100; 207 with
  ``OBJECT_NOT_FOUND`` for unknown ids; ``idProperty: "email"`` is refused as on the real API),
  ``batch/archive`` (204), ``…/merge``, ``…/gdpr-delete`` (``{objectId, idProperty?}``: the
  contact is deleted for good and leaves every list; an unknown email is blocklisted; 204).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crmhub.core.testing.fake_service import json_response
from crmhub.plugins.hubspot.fake_contacts import Contact, hs_time
from crmhub.plugins.hubspot.fake_responses import hs_error, props_param, read_json

if TYPE_CHECKING:
    from crmhub.plugins.hubspot.fake import FakeHubSpot

__all__ = ["ContactsApi"]

C = "/crm/v3/objects/contacts"
BATCH_LIMIT = 100
SEARCH_LIMIT = 200
SEARCH_CAP = 10_000
LIST_LIMIT = 100


class ContactsApi:
    """The contacts endpoints of one fake portal."""

    def __init__(self, portal: FakeHubSpot) -> None:
        self.portal = portal
        self._search_cache: OrderedDict[tuple[Any, ...], list[int]] = OrderedDict()

    def routes(self) -> list[Route]:
        """The routes, each wrapped in the portal's guard (auth, limits, faults)."""
        r = self.portal.route
        return [
            r(C, "contacts.list", self._list_contacts, ("GET",)),
            r(C, "contacts.create", self._create_contact, ("POST",)),
            r(C + "/search", "contacts.search", self._search, ("POST",)),
            r(C + "/batch/upsert", "contacts.batch_upsert", self._batch_upsert, ("POST",)),
            r(C + "/batch/read", "contacts.batch_read", self._batch_read, ("POST",)),
            r(C + "/batch/update", "contacts.batch_update", self._batch_update, ("POST",)),
            r(C + "/batch/archive", "contacts.batch_archive", self._batch_archive, ("POST",)),
            r(C + "/gdpr-delete", "contacts.gdpr_delete", self._gdpr_delete, ("POST",)),
            r(C + "/merge", "contacts.merge", self._merge, ("POST",)),
            r(C + "/{cid}", "contacts.get", self._get_contact, ("GET",)),
            r(C + "/{cid}", "contacts.update", self._patch_contact, ("PATCH",)),
            r(C + "/{cid}", "contacts.archive", self._delete_contact, ("DELETE",)),
        ]

    async def _list_contacts(self, request: Request) -> Response:
        q = request.query_params
        try:
            limit = int(q.get("limit", 10))
            after = int(q["after"]) if q.get("after") else None
        except ValueError:
            return hs_error(400, "limit and after must be integers")
        if not 1 <= limit <= LIST_LIMIT:
            return hs_error(400, f"limit must be between 1 and {LIST_LIMIT}")
        archived = q.get("archived", "false").lower() == "true"
        props = props_param(request)
        with self.portal.lock:
            contacts, next_after = self.portal.contacts.page(
                archived=archived, after=after, limit=limit
            )
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
        body = await read_json(request)
        props = (body or {}).get("properties") if isinstance(body, dict) else None
        if not isinstance(props, dict):
            return hs_error(400, "Invalid input JSON: properties is required")
        with self.portal.lock:
            problems = self.portal.contacts.problems(props)
            if problems:
                return hs_error(400, "Property values were not valid", errors=problems)
            if (
                props.get("email")
                and self.portal.contacts.find_email(str(props["email"])) is not None
            ):
                existing = self.portal.contacts.find_email(str(props["email"]))
                assert existing is not None
                return hs_error(
                    409, f"Contact already exists. Existing ID: {existing.id}", "CONFLICT"
                )
            contact = self.portal.contacts.create(props, self.portal.now())
            return json_response(contact.as_json(contact.properties), 201)

    def _lookup(self, request: Request) -> Contact | None:
        key = request.path_params["cid"]
        archived = request.query_params.get("archived", "false").lower() == "true"
        if request.query_params.get("idProperty") == "email":
            contact = self.portal.contacts.find_email(key)
        else:
            try:
                contact = self.portal.contacts.resolve(int(key))
            except ValueError:
                return None
        if contact is None or contact.archived != archived:
            return None
        return contact

    def _not_found(self, request: Request) -> Response:
        return hs_error(
            404,
            "Object not found.  objectId are usually numeric.",
            "OBJECT_NOT_FOUND",
            context={"id": [request.path_params["cid"]]},
        )

    async def _get_contact(self, request: Request) -> Response:
        with self.portal.lock:
            contact = self._lookup(request)
            if contact is None:
                return self._not_found(request)
            return json_response(contact.as_json(props_param(request)))

    async def _patch_contact(self, request: Request) -> Response:
        body = await read_json(request)
        props = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(props, dict):
            return hs_error(400, "Invalid input JSON: properties is required")
        with self.portal.lock:
            contact = self._lookup(request)
            if contact is None:
                return self._not_found(request)
            problems = self.portal.contacts.problems(props)
            if problems:
                return hs_error(400, "Property values were not valid", errors=problems)
            self.portal.contacts.update(contact, props, self.portal.now())
            return json_response(contact.as_json(contact.properties))

    async def _delete_contact(self, request: Request) -> Response:
        with self.portal.lock:
            contact = self._lookup(request)
            if contact is not None:
                self.portal.contacts.archive(contact, self.portal.now())
        return Response(status_code=204)

    async def _merge(self, request: Request) -> Response:
        body = await read_json(request)
        try:
            primary, other = int(body["primaryObjectId"]), int(body["objectIdToMerge"])
            merged = self.portal.merge(primary, other)
        except (TypeError, KeyError, ValueError):
            return hs_error(
                400,
                "Invalid merge request: primaryObjectId and objectIdToMerge must be live contacts",
            )
        return json_response(merged)

    async def _batch_upsert(self, request: Request) -> Response:
        body = await read_json(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list):
            return hs_error(400, "Invalid input JSON on line 1: inputs is required")
        if len(inputs) > BATCH_LIMIT:
            return hs_error(
                400, f"Batch input limit is {BATCH_LIMIT}; got {len(inputs)} inputs", context={}
            )
        keys = [str(i.get("id", "")).strip().lower() for i in inputs if isinstance(i, dict)]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            return hs_error(
                400, f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique"
            )
        started = hs_time(self.portal.now())
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        with self.portal.lock:
            for item in inputs:
                outcome = self._upsert_one(item if isinstance(item, dict) else {})
                (errors if outcome.get("status") == "error" else results).append(outcome)
        payload: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": hs_time(self.portal.now()),
        }
        if errors:
            payload["numErrors"] = len(errors)
            payload["errors"] = errors
            return json_response(payload, 207)
        return json_response(payload)

    async def _batch_update(self, request: Request) -> Response:
        body = await read_json(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list):
            return hs_error(400, "Invalid input JSON on line 1: inputs is required")
        if len(inputs) > BATCH_LIMIT:
            return hs_error(400, f"Batch input limit is {BATCH_LIMIT}; got {len(inputs)} inputs")
        started = hs_time(self.portal.now())
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        with self.portal.lock:
            for item in inputs:
                item = item if isinstance(item, dict) else {}
                id_property = item.get("idProperty") or "hs_object_id"
                if id_property != "hs_object_id":
                    outcome = _batch_error(
                        "VALIDATION_ERROR",
                        f"Unable to perform update/upsert by non-unique 0-1 property {id_property}",
                        str(item.get("id", "")),
                    )
                else:
                    outcome = self._upsert_one({**item, "idProperty": "hs_object_id"})
                    outcome.pop("new", None)
                (errors if outcome.get("status") == "error" else results).append(outcome)
        payload: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": hs_time(self.portal.now()),
        }
        if errors:
            payload["numErrors"] = len(errors)
            payload["errors"] = errors
            return json_response(payload, 207)
        return json_response(payload)

    async def _gdpr_delete(self, request: Request) -> Response:
        body = await read_json(request)
        key = str(body.get("objectId", "")).strip() if isinstance(body, dict) else ""
        if not key:
            return hs_error(400, "Invalid input JSON: objectId is required")
        by_email = body.get("idProperty") == "email"
        with self.portal.lock:
            store = self.portal.contacts
            if by_email:
                contact = store.find_email(key)
                if contact is None:
                    store.blocklist.add(key.lower())
                    return Response(status_code=204)
            else:
                contact = store.resolve(int(key)) if key.isdigit() else None
                if contact is None:
                    return self._not_found_id(key)
            for lst in self.portal.lists.lists.values():
                lst.remove(contact.id)
            store.purge(contact)
        return Response(status_code=204)

    def _not_found_id(self, key: str) -> Response:
        return hs_error(404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND",
                        context={"id": [key]})

    def _upsert_one(self, item: dict[str, Any]) -> dict[str, Any]:
        key = str(item.get("id", "")).strip()
        id_property = item.get("idProperty") or "hs_object_id"
        props = item.get("properties") or {}
        if not isinstance(props, dict):
            props = {}
        problems = self.portal.contacts.problems(props)
        if id_property == "email":
            problems.extend(self.portal.contacts.problems({"email": key or "(empty)"}))
            injected = self.portal.failing_emails.get(key.lower())
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
        now = self.portal.now()
        if id_property == "email":
            contact = self.portal.contacts.find_email(key)
            created = contact is None
            if contact is None:
                contact = self.portal.contacts.create({**props, "email": key}, now)
            else:
                self.portal.contacts.update(
                    contact, {k: v for k, v in props.items() if k != "email"}, now
                )
        else:
            try:
                found = self.portal.contacts.resolve(int(key))
            except ValueError:
                found = None
            if found is None or found.archived:
                return _batch_error("OBJECT_NOT_FOUND", f"Object {key} not found", key)
            contact, created = found, False
            self.portal.contacts.update(contact, props, now)
        names = (
            list(props)
            + ["email"] * (id_property == "email")
            + ["hs_object_id", "createdate", "lastmodifieddate"]
        )
        out = contact.as_json(dict.fromkeys(names))
        out["new"] = created
        return out

    async def _batch_read(self, request: Request) -> Response:
        body = await read_json(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list):
            return hs_error(400, "Invalid input JSON on line 1: inputs is required")
        if len(inputs) > BATCH_LIMIT:
            return hs_error(400, f"Batch input limit is {BATCH_LIMIT}; got {len(inputs)} inputs")
        props = body.get("properties") or None
        by_email = body.get("idProperty") == "email"
        archived = request.query_params.get("archived", "false").lower() == "true"
        started = hs_time(self.portal.now())
        results, missing = [], []
        with self.portal.lock:
            for item in inputs:
                key = str((item or {}).get("id", "")).strip()
                if by_email:
                    contact = self.portal.contacts.find_email(key)
                else:
                    contact = self.portal.contacts.resolve(int(key)) if key.isdigit() else None
                if contact is None or contact.archived != archived:
                    missing.append(key)
                else:
                    results.append(contact.as_json(props))
        payload: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": hs_time(self.portal.now()),
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
        body = await read_json(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list):
            return hs_error(400, "Invalid input JSON on line 1: inputs is required")
        if len(inputs) > BATCH_LIMIT:
            return hs_error(400, f"Batch input limit is {BATCH_LIMIT}; got {len(inputs)} inputs")
        with self.portal.lock:
            for item in inputs:
                key = str((item or {}).get("id", ""))
                contact = self.portal.contacts.contacts.get(int(key)) if key.isdigit() else None
                if contact is not None:
                    self.portal.contacts.archive(contact, self.portal.now())
        return Response(status_code=204)

    async def _search(self, request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            body = {}
        try:
            limit = int(body.get("limit", 10))
            after = int(body.get("after") or 0)
        except (TypeError, ValueError):
            return hs_error(400, "limit and after must be integers")
        if not 0 <= limit <= SEARCH_LIMIT:
            return hs_error(400, f"limit must be between 0 and {SEARCH_LIMIT}")
        if after >= SEARCH_CAP:
            return hs_error(
                400,
                f"Search can page through at most {SEARCH_CAP} results (after={after}); "
                "narrow the query with filters to read further.",
            )
        groups = body.get("filterGroups") or []
        n_filters = sum(len(g.get("filters", [])) for g in groups)
        if len(groups) > 5 or any(len(g.get("filters", [])) > 10 for g in groups) or n_filters > 25:
            return hs_error(
                400,
                "Too many filters: at most 5 filterGroups, 10 filters per group and 25 in total",
            )
        sorts = body.get("sorts") or []
        key = json.dumps([groups, sorts, body.get("query")], sort_keys=True)
        with self.portal.lock:
            cache_key = (self.portal.contacts.version, key)
            ids = self._search_cache.get(cache_key)
            if ids is None:
                ids = self.portal.contacts.search(groups, sorts, body.get("query"))
                self._search_cache[cache_key] = ids
                while len(self._search_cache) > 16:
                    self._search_cache.popitem(last=False)
            reachable = min(len(ids), SEARCH_CAP)
            end = min(after + limit, reachable)
            props = body.get("properties") or None
            results = [self.portal.contacts.contacts[c].as_json(props) for c in ids[after:end]]
        payload: dict[str, Any] = {"total": len(ids), "results": results}
        if end < reachable and limit > 0:
            payload["paging"] = {"next": {"after": str(end)}}
        return json_response(payload)


def _batch_error(category: str, message: str, key: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": {"ids": [key]},
        **extra,
    }
