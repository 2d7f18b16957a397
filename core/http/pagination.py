"""Pagination strategies as small classes, with typed tokens a sync can store and resume from.

Every paginator has one method that matters::

    pages(client, path, params=None, start=None) -> Iterator[Page]

Each :class:`Page` holds the response, the parsed items, the token that fetched it and
``next_token``: the place right after this page. A sync stores ``next_token`` in the same
transaction as the page's records; after a crash, ``pages(..., start=stored_token)`` goes on
exactly there. Tokens (:mod:`crmhub.core.http.pagination_tokens`) are pydantic models with
a ``kind`` tag; :func:`~crmhub.core.http.load_token` reads one back from its JSON.

* :class:`LinkHeaderPaginator` -- ``Link: <...>; rel="next"`` followed exactly as given
  (Shopify: filters go on the first request only; the next URL carries ``page_info`` and
  ``limit``). WooCommerce sends the same header.
* :class:`PageNumberPaginator` -- ``page`` / ``per_page`` with ``X-WP-TotalPages`` and
  ``X-WP-Total`` (WooCommerce, WordPress); each page reports the server's totals.
* :class:`JsonCursorPaginator` -- a cursor at a JSON path (``paging.next.after``) passed
  back as a parameter (``after``), in the query or in a JSON body (HubSpot search).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal

import httpx
from crmhub.core.errors import PermanentRemoteError, TransientRemoteError
from crmhub.core.http.client import ApiClient
from crmhub.core.http.pagination_tokens import CursorToken, LinkToken, Page, PageNumberToken


def dig(data: Any, path: str | None) -> Any:
    """Return the value at a dotted ``path`` (``"paging.next.after"``), ``None`` if absent."""
    if not path:
        return data
    for part in path.split("."):
        if not isinstance(data, Mapping) or part not in data:
            return None
        data = data[part]
    return data


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise TransientRemoteError(
            f"{response.request.method} {response.request.url.path}: page is not JSON",
            request=response.request,
            response=response,
        ) from exc


def _items(response: httpx.Response, items_path: str | None) -> list[Any]:
    found = dig(_json(response), items_path)
    if found is None:
        return []
    if not isinstance(found, list):
        raise PermanentRemoteError(
            f"{response.request.method} {response.request.url.path}: "
            f"expected a list at {items_path or 'the top level'}",
            request=response.request,
            response=response,
        )
    return found


def _int_header(response: httpx.Response, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def _check_start(start: object, expected: type) -> None:
    if start is not None and not isinstance(start, expected):
        raise TypeError(f"expected a {expected.__name__} to resume from, got {start!r}")


class LinkHeaderPaginator:
    """Follows ``Link: <url>; rel="next"`` exactly as given, until there is none.

    :param items_path: where the list sits in the body (``"customers"``); ``None``: the body.
    :param rel: the relation to follow.
    """

    def __init__(self, *, items_path: str | None = None, rel: str = "next") -> None:
        self.items_path = items_path
        self.rel = rel

    def pages(
        self,
        client: ApiClient,
        path: str,
        params: Mapping[str, Any] | None = None,
        start: LinkToken | None = None,
    ) -> Iterator[Page[LinkToken]]:
        """Yield pages: ``params`` go on the first request only, never on a next link."""
        _check_start(start, LinkToken)
        url, query, token = (path, params, None) if start is None else (start.next_url, None, start)
        while True:
            response = client.request("GET", url, params=query)
            link = response.links.get(self.rel, {}).get("url")
            next_token = None
            if link:
                absolute = response.request.url.join(link)
                if not _same_origin(absolute, client.base_url):
                    raise PermanentRemoteError(
                        f"next link leaves the API's origin: {absolute.host}"
                    )
                if absolute == response.request.url:
                    raise PermanentRemoteError(f"next link repeats the page: {absolute.path}")
                next_token = LinkToken(next_url=str(absolute))
            yield Page(response, _items(response, self.items_path), token, next_token)
            if next_token is None:
                return
            url, query, token = next_token.next_url, None, next_token


class PageNumberPaginator:
    """``page`` / ``per_page`` parameters; stops at ``X-WP-TotalPages`` or a short page.

    :param per_page: page size to ask for (WooCommerce allows 1-100).
    :param items_path: where the list sits in the body; ``None``: the body itself.
    """

    def __init__(
        self,
        *,
        per_page: int = 100,
        items_path: str | None = None,
        page_param: str = "page",
        per_page_param: str = "per_page",
        first_page: int = 1,
        total_header: str = "X-WP-Total",
        total_pages_header: str = "X-WP-TotalPages",
    ) -> None:
        self.per_page = per_page
        self.items_path = items_path
        self.page_param = page_param
        self.per_page_param = per_page_param
        self.first_page = first_page
        self.total_header = total_header
        self.total_pages_header = total_pages_header

    def pages(
        self,
        client: ApiClient,
        path: str,
        params: Mapping[str, Any] | None = None,
        start: PageNumberToken | None = None,
    ) -> Iterator[Page[PageNumberToken]]:
        """Yield pages from ``start`` (or the first page) to the last one."""
        _check_start(start, PageNumberToken)
        number = self.first_page if start is None else start.page
        token = start
        while True:
            query = {**(params or {}), self.page_param: number, self.per_page_param: self.per_page}
            response = client.request("GET", path, params=query)
            items = _items(response, self.items_path)
            total_pages = _int_header(response, self.total_pages_header)
            if total_pages is not None:
                last = number >= total_pages + self.first_page - 1
            else:
                last = len(items) < self.per_page
            next_token = None if last or not items else PageNumberToken(page=number + 1)
            total = _int_header(response, self.total_header)
            yield Page(response, items, token, next_token, total, total_pages)
            if next_token is None:
                return
            number, token = next_token.page, next_token


class JsonCursorPaginator:
    """A cursor read from the body at ``cursor_path`` and sent back as ``cursor_param``.

    :param cursor_path: dotted path of the next cursor (HubSpot: ``paging.next.after``).
    :param cursor_param: the parameter that carries it back (HubSpot: ``after``).
    :param items_path: dotted path of the list (HubSpot: ``results``).
    :param method: ``"GET"`` sends ``params`` and the cursor in the query; ``"POST"`` sends
        them as the JSON body (HubSpot search).
    """

    def __init__(
        self,
        *,
        cursor_path: str = "paging.next.after",
        cursor_param: str = "after",
        items_path: str | None = "results",
        method: Literal["GET", "POST"] = "GET",
    ) -> None:
        self.cursor_path = cursor_path
        self.cursor_param = cursor_param
        self.items_path = items_path
        self.method = method

    def pages(
        self,
        client: ApiClient,
        path: str,
        params: Mapping[str, Any] | None = None,
        start: CursorToken | None = None,
    ) -> Iterator[Page[CursorToken]]:
        """Yield pages until the body carries no cursor."""
        _check_start(start, CursorToken)
        token = start
        while True:
            values = dict(params or {})
            if token is not None:
                values[self.cursor_param] = token.cursor
            if self.method == "GET":
                response = client.request("GET", path, params=values)
            else:
                response = client.request(self.method, path, json=values)
            cursor = dig(_json(response), self.cursor_path)
            next_token = None
            if cursor not in (None, ""):
                if token is not None and str(cursor) == token.cursor:
                    raise PermanentRemoteError(f"cursor repeats the page: {path}")
                next_token = CursorToken(cursor=str(cursor))
            yield Page(response, _items(response, self.items_path), token, next_token)
            if next_token is None:
                return
            token = next_token
