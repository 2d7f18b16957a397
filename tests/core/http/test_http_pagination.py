"""Paginators walk fake Shopify, WooCommerce and HubSpot lists on loopback, and resume."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs

import httpx
import pytest
from crmhub.core.errors import PermanentRemoteError
from crmhub.core.http import (
    ApiClient,
    CursorToken,
    JsonCursorPaginator,
    LinkHeaderPaginator,
    LinkToken,
    PageNumberPaginator,
    PageNumberToken,
    load_token,
)
from http_fakes import HubSpotContacts, ShopifyCustomers, WooCustomers

Serve = Callable[..., str]


def ids(pages: list) -> list[int]:  # type: ignore[type-arg]
    return [item["id"] for page in pages for item in page.items]


# ---- Link header (Shopify) ----------------------------------------------------------------


def test_link_header_walks_to_the_end_with_filters_on_the_first_request_only(serve: Serve) -> None:
    fake = ShopifyCustomers(23)
    base = serve(fake.app) + "/admin/api/2024-07/"
    paginator = LinkHeaderPaginator(items_path="customers")
    with ApiClient(base) as client:
        pages = list(paginator.pages(client, "customers.json", {"limit": 5, "since_id": 3}))
    # 20 customers after id 3, in 4 pages, each once
    assert ids(pages) == list(range(4, 24))
    assert [p.next_token is None for p in pages] == [False, False, False, True]
    assert pages[0].token is None and pages[1].token == pages[0].next_token
    # the first request carried the filters; the others exactly the next link's query
    assert parse_qs(fake.queries[0]) == {"limit": ["5"], "since_id": ["3"]}
    for page, query in zip(pages[:-1], fake.queries[1:]):
        assert page.next_token is not None
        assert page.next_token.next_url.endswith("?" + query)
        assert set(parse_qs(query)) == {"page_info", "limit"}


def test_link_header_resumes_from_a_stored_token(serve: Serve) -> None:
    fake = ShopifyCustomers(23)
    base = serve(fake.app) + "/admin/api/2024-07/"
    paginator = LinkHeaderPaginator(items_path="customers")
    with ApiClient(base) as client:
        # Given a sync stored the token after its second page, then died
        walk = paginator.pages(client, "customers.json", {"limit": 5})
        first = [next(walk), next(walk)]
        stored = first[-1].next_token.model_dump_json()  # type: ignore[union-attr]
        # When a new sync resumes from the stored text
        token = load_token(stored)
        assert isinstance(token, LinkToken)
        rest = list(paginator.pages(client, "customers.json", {"limit": 5}, start=token))
    # Then together they hold every customer exactly once
    assert ids(first) + ids(rest) == list(range(1, 24))
    assert rest[0].token == token


def test_link_header_refuses_a_next_link_to_another_host() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json=[{"id": 1}],
            headers={"Link": '<https://evil.example/steal?page_info=x>; rel="next"'},
        )

    with ApiClient("https://shop.example/api/", transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(PermanentRemoteError, match="origin"):
            list(LinkHeaderPaginator().pages(client, "customers.json"))


def test_link_header_resolves_relative_links() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if "page=2" in str(request.url):
            return httpx.Response(200, json=[{"id": 2}])
        return httpx.Response(
            200, json=[{"id": 1}], headers={"Link": '</wp-json/wc/v3/orders?page=2>; rel="next"'}
        )

    with ApiClient(
        "https://shop.example/wp-json/wc/v3/", transport=httpx.MockTransport(handler)
    ) as client:
        pages = list(LinkHeaderPaginator().pages(client, "orders"))
    assert ids(pages) == [1, 2]
    assert seen[1] == "https://shop.example/wp-json/wc/v3/orders?page=2"


# ---- page numbers (WooCommerce) -----------------------------------------------------------


def test_page_numbers_walk_to_the_reported_last_page(serve: Serve) -> None:
    fake = WooCustomers(23)
    base = serve(fake.app) + "/wp-json/wc/v3/"
    paginator = PageNumberPaginator(per_page=5)
    with ApiClient(base) as client:
        pages = list(paginator.pages(client, "customers", {"role": "all"}))
    assert ids(pages) == list(range(1, 24))
    assert fake.pages_seen == [1, 2, 3, 4, 5]
    assert {(p.total, p.total_pages) for p in pages} == {(23, 5)}
    assert [p.next_token for p in pages][:2] == [PageNumberToken(page=2), PageNumberToken(page=3)]


def test_page_numbers_resume_from_a_stored_token(serve: Serve) -> None:
    fake = WooCustomers(12)
    base = serve(fake.app) + "/wp-json/wc/v3/"
    paginator = PageNumberPaginator(per_page=4)
    with ApiClient(base) as client:
        first = next(paginator.pages(client, "customers"))
        token = load_token(first.next_token.model_dump())  # type: ignore[union-attr]
        rest = list(paginator.pages(client, "customers", start=token))  # type: ignore[arg-type]
    assert ids([first]) + ids(rest) == list(range(1, 13))


def test_page_numbers_stop_on_a_short_page_without_headers() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        return httpx.Response(
            200, json=[{"id": i} for i in range(page * 10, page * 10 + (3 if page == 2 else 5))]
        )

    with ApiClient("https://shop.example/", transport=httpx.MockTransport(handler)) as client:
        pages = list(PageNumberPaginator(per_page=5).pages(client, "items"))
    assert len(pages) == 2 and pages[-1].next_token is None and pages[0].total is None


# ---- JSON cursor (HubSpot) ----------------------------------------------------------------


def test_json_cursor_walks_and_resumes(serve: Serve) -> None:
    fake = HubSpotContacts(25)
    base = serve(fake.app)
    paginator = JsonCursorPaginator(
        cursor_path="paging.next.after", cursor_param="after", items_path="results"
    )
    with ApiClient(base) as client:
        pages = list(paginator.pages(client, "crm/v3/objects/contacts", {"limit": 10}))
        assert ids(pages) == list(range(1, 26))
        assert fake.afters == [None, "10", "20"]
        # resume after the first page
        token = load_token(pages[0].next_token.model_dump_json())  # type: ignore[union-attr]
        assert token == CursorToken(cursor="10")
        rest = list(paginator.pages(client, "crm/v3/objects/contacts", {"limit": 10}, start=token))  # type: ignore[arg-type]
    assert ids(pages[:1]) + ids(rest) == list(range(1, 26))


def test_json_cursor_in_a_post_body(serve: Serve) -> None:
    fake = HubSpotContacts(7)
    base = serve(fake.app)
    paginator = JsonCursorPaginator(method="POST")
    body = {"limit": 3, "filterGroups": [], "properties": ["email"]}
    with ApiClient(base) as client:
        pages = list(paginator.pages(client, "crm/v3/objects/contacts/search", body))
    assert ids(pages) == list(range(1, 8))
    assert fake.afters == [None, "3", "6"]


def test_wrong_token_type_is_refused() -> None:
    with ApiClient(
        "https://api.example/",
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json={})),
    ) as client:
        with pytest.raises(TypeError):
            list(JsonCursorPaginator().pages(client, "x", start=PageNumberToken(page=2)))  # type: ignore[arg-type]
