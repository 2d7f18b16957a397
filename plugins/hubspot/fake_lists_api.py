"""Lists endpoints of the fake HubSpot (Lists v3, ``/crm/v3/lists``).

``POST /crm/v3/lists/`` creates a ``MANUAL``, ``DYNAMIC`` or ``SNAPSHOT`` list and answers
``{"list": {"listId", "name", "processingType", …}}``; ``GET /crm/v3/lists/{id}`` and
``GET /crm/v3/lists/object-type-id/0-1/name/{name}`` (404 when missing) read one;
``PUT …/memberships/add-and-remove`` takes ``{recordIdsToAdd, recordIdsToRemove}`` and answers
``{recordIdsMissing, recordIdsRemoved, recordsIdsAdded}`` (HubSpot's spelling);
``PUT …/memberships/add`` and ``…/remove`` take a JSON array of ids. Membership changes work
only on ``MANUAL`` and ``SNAPSHOT`` lists. ``GET …/memberships`` pages by record id
(``limit`` ≤ 250, ``after``); ``DELETE …/memberships`` empties a list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crmhub.core.testing.fake_service import json_response
from crmhub.plugins.hubspot.fake_contacts import hs_time
from crmhub.plugins.hubspot.fake_responses import hs_error, read_json

if TYPE_CHECKING:
    from crmhub.plugins.hubspot.fake import FakeHubSpot

__all__ = ["ListsApi"]

L = "/crm/v3/lists"
MEMBERSHIP_LIMIT = 250


class ListsApi:
    """The lists endpoints of one fake portal."""

    def __init__(self, portal: FakeHubSpot) -> None:
        self.portal = portal

    def routes(self) -> list[Route]:
        """The routes, each wrapped in the portal's guard (auth, limits, faults)."""
        r = self.portal.route
        return [
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

    async def _create_list(self, request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict) or not body.get("name"):
            return hs_error(400, "name is required")
        try:
            with self.portal.lock:
                lst = self.portal.lists.create(
                    str(body["name"]),
                    body.get("processingType", "MANUAL"),
                    str(body.get("objectTypeId", "0-1")),
                    self.portal.now(),
                    body.get("filterBranch"),
                )
        except ValueError as exc:
            return hs_error(400, str(exc))
        return json_response({"list": lst.as_json()})

    async def _list_by_name(self, request: Request) -> Response:
        with self.portal.lock:
            lst = self.portal.lists.by_name(request.path_params["ot"], request.path_params["name"])
            if lst is None:
                return hs_error(
                    404,
                    f"List does not exist with name {request.path_params['name']}",
                    "OBJECT_NOT_FOUND",
                )
            return json_response({"list": lst.as_json()})

    async def _get_list(self, request: Request) -> Response:
        with self.portal.lock:
            lst = self.portal.lists.lists.get(request.path_params["lid"])
            if lst is None:
                return hs_error(
                    404,
                    f"List does not exist with id {request.path_params['lid']}",
                    "OBJECT_NOT_FOUND",
                )
            return json_response({"list": lst.as_json()})

    async def _delete_list(self, request: Request) -> Response:
        with self.portal.lock:
            self.portal.lists.lists.pop(request.path_params["lid"], None)
        return Response(status_code=204)

    async def _change_members(self, request: Request, to_add: Any, to_remove: Any) -> Response:
        lid = request.path_params["lid"]
        with self.portal.lock:
            lst = self.portal.lists.lists.get(lid)
            if lst is None:
                return hs_error(404, f"List does not exist with id {lid}", "OBJECT_NOT_FOUND")
            if not lst.manual:
                return hs_error(
                    400,
                    f"List {lid} has processingType {lst.processing_type}; memberships can only be "
                    "changed on MANUAL and SNAPSHOT lists",
                )
            missing: list[str] = []
            added: list[str] = []
            removed: list[str] = []
            now = self.portal.now()
            for raw in to_add:
                rid = int(raw) if str(raw).isdigit() else None
                contact = self.portal.contacts.resolve(rid) if rid is not None else None
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
        body = await read_json(request)
        if not isinstance(body, dict):
            return hs_error(400, "Invalid input JSON: expected {recordIdsToAdd, recordIdsToRemove}")
        return await self._change_members(
            request, body.get("recordIdsToAdd") or [], body.get("recordIdsToRemove") or []
        )

    async def _add_members(self, request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, list):
            return hs_error(400, "Invalid input JSON: expected an array of record ids")
        return await self._change_members(request, body, [])

    async def _remove_members(self, request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, list):
            return hs_error(400, "Invalid input JSON: expected an array of record ids")
        return await self._change_members(request, [], body)

    async def _get_members(self, request: Request) -> Response:
        lid = request.path_params["lid"]
        q = request.query_params
        try:
            limit = int(q.get("limit", 100))
            after = int(q["after"]) if q.get("after") else None
        except ValueError:
            return hs_error(400, "limit and after must be integers")
        if not 1 <= limit <= MEMBERSHIP_LIMIT:
            return hs_error(400, f"limit must be between 1 and {MEMBERSHIP_LIMIT}")
        with self.portal.lock:
            lst = self.portal.lists.lists.get(lid)
            if lst is None:
                return hs_error(404, f"List does not exist with id {lid}", "OBJECT_NOT_FOUND")
            ids, next_after = lst.page(after, limit)
            results = [
                {"recordId": str(i), "membershipTimestamp": hs_time(lst.members[i])} for i in ids
            ]
        body: dict[str, Any] = {"results": results, "total": len(lst.members)}
        if next_after is not None:
            body["paging"] = {"next": {"after": str(next_after)}}
        return json_response(body)

    async def _clear_members(self, request: Request) -> Response:
        with self.portal.lock:
            lst = self.portal.lists.lists.get(request.path_params["lid"])
            if lst is not None and lst.manual:
                lst.members.clear()
                lst.order.clear()
        return Response(status_code=204)
