"""Reading a WooCommerce list in id order without losing records that move under the reader.

``page``/``per_page`` pagination is an SQL ``OFFSET``: when a record *before* the reader's
position leaves the list while it reads (an order deleted for good, a customer removed),
every later record moves one place forward and the first record of the next page is never
seen. :class:`IdPager` therefore asks for ``orderby=id`` and proves continuity: each request
starts one record early (``offset - 1``), and that record must be the last one already
handed out (or one before it). If it is not, records moved forward and the pager steps back
until it finds its place again. Records that moved backwards (new ones entering the filter
before the position) are skipped by id: nothing is handed out twice within a run.

``X-WP-Total`` of each response is reported as the page's ``total``. A page shorter than
``per_page`` ends the list. :class:`IdCursor` is the resume point stored with each page.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from pydantic import BaseModel, ConfigDict

from crmhub.core.errors import PermanentRemoteError
from crmhub.core.http import ApiClient
from crmhub.plugins.woocommerce.client import json_list, total_of

MAX_PER_PAGE = 100


class IdCursor(BaseModel):
    """Where an id-ordered read stands: the last id handed out and the offset just past it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    last_id: int | None = None
    offset: int = 0


@dataclass(frozen=True)
class IdPage:
    """Records not handed out before, the cursor after them, ``X-WP-Total`` and whether
    this was the last page."""

    items: list[dict[str, Any]]
    cursor: IdCursor
    total: int | None
    last: bool


class IdPager:
    """Offset pagination in id order with a one-record overlap (see the module docstring).

    :param client: the site's client.
    :param path: ``orders`` or ``customers``.
    :param params: filters sent with every request (``modified_after``, ``status``…).
    :param per_page: records per request, at most 100.
    :param descending: newest ids first (to find new registrations).
    """

    def __init__(
        self,
        client: ApiClient,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        per_page: int = MAX_PER_PAGE,
        descending: bool = False,
    ) -> None:
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be 1-{MAX_PER_PAGE}, got {per_page}")
        self.client = client
        self.path = path
        self.params = dict(params or {})
        self.per_page = per_page
        self.descending = descending

    def _sorted(self, a: int, b: int) -> bool:
        """Whether ``a`` comes no later than ``b`` in the requested order."""
        return a >= b if self.descending else a <= b

    def _get(self, offset: int) -> tuple[list[dict[str, Any]], int | None]:
        params = {
            **self.params,
            "orderby": "id",
            "order": "desc" if self.descending else "asc",
            "per_page": self.per_page,
            "offset": offset,
        }
        response = self.client.request("GET", self.path, params=params)
        items = json_list(self.client, response)
        ids = [int(item["id"]) for item in items]
        if any(not self._sorted(a, b) for a, b in pairwise(ids)):
            raise PermanentRemoteError(
                f"GET {self.path}: records are not in id order; the site ignores orderby=id",
                instance=self.client.instance,
            )
        return items, total_of(response)

    def pages(self, start: IdCursor | None = None) -> Iterator[IdPage]:
        """Yield pages from ``start`` (or the beginning) to the end of the list."""
        cursor = start or IdCursor()
        while True:
            last_id = cursor.last_id
            offset = cursor.offset if last_id is None else max(cursor.offset - 1, 0)
            items, total = self._get(offset)
            while (
                last_id is not None
                and offset > 0
                and (not items or not self._sorted(int(items[0]["id"]), last_id))
            ):
                offset = max(offset - (self.per_page - 1), 0)  # records moved forward
                items, total = self._get(offset)
            new = [
                item
                for item in items
                if last_id is None or not self._sorted(int(item["id"]), last_id)
            ]
            cursor = IdCursor(
                last_id=int(new[-1]["id"]) if new else last_id, offset=offset + len(items)
            )
            last = len(items) < self.per_page
            yield IdPage(new, cursor, total, last)
            if last:
                return
