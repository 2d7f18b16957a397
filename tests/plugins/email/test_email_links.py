"""The links in a message, served by the plugin's routes on a bare FastAPI app (httpx ASGI
transport): unsubscribe (RFC 8058 POST and the body link), tampering, opens, clicks and
survey answers."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from email_support import PUBLIC_URL, add_customers, consent_of, interactions, join_segment, sends
from fastapi import FastAPI

from crmhub.core.plugins import hookimpl, load_plugins
from crmhub.plugins.email.campaigns import send_campaign
from crmhub.plugins.email.tokens import Purpose, TokenSigner

ONE_CLICK = {"content": b"List-Unsubscribe=One-Click",
             "headers": {"Content-Type": "application/x-www-form-urlencoded"}}


class ConsentSpy:
    """A listener plugin standing in for HubSpot: records consent changes."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str, bool, str]] = []

    @hookimpl
    def crmhub_on_consent_changed(self, hub: Any, customer_id: int, channel: str, granted: bool, source: str) -> None:
        self.calls.append((customer_id, channel, granted, source))


def call(app: FastAPI, method: str, url: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
            return await client.request(method, url, **kwargs)

    return asyncio.run(go())


@pytest.fixture
def sent(email_hub, smtp_server):
    """A hub with a consent spy, its app, and a campaign sent to two customers."""
    spy = ConsentSpy()
    hub = email_hub(hooks=load_plugins(extra_plugins={"spy": spy}),
                    campaigns={"spring": {"segment": "champions", "template": "spring"},
                               "survey": {"segment": "champions", "template": "nps", "survey": "nps"}})
    ids = add_customers(hub, 2)
    join_segment(hub, "champions", ids)
    send_campaign(hub, "spring")
    app = FastAPI()
    hub.plugins.register_routes(hub, app)
    spy.calls.clear()  # forget the grants of the customers' creation
    return hub, app, ids, spy


def _path(url: str) -> str:
    return url.removeprefix(PUBLIC_URL)


def unsubscribe_path(server, address: str) -> str:
    header = server.handler.to(address)[-1].parsed()["List-Unsubscribe"]
    return _path(re.search(r"<(https://[^>]+)>", header).group(1))


def html_links(server, address: str, kind: str) -> list[str]:
    html = server.handler.to(address)[-1].parsed().get_body(("html",)).get_content()
    return [_path(url) for url in re.findall(rf"{PUBLIC_URL}/email/{kind}/[A-Za-z0-9_-]+", html)]


def test_one_click_post_withdraws_consent_records_it_and_tells_listeners(sent, smtp_server):
    hub, app, ids, spy = sent

    response = call(app, "POST", unsubscribe_path(smtp_server, "c0@example.com"), **ONE_CLICK)

    assert response.status_code == 200
    consent = consent_of(hub, ids[0])
    assert (consent.granted, consent.state, consent.source) == (False, "unsubscribed", "email.main")
    [event] = interactions(hub, "email_unsubscribed")
    assert event.customer_id == ids[0] and event.data["method"] == "one-click"
    assert spy.calls == [(ids[0], "email", False, "email.main")]
    assert sends(hub, customer_id=ids[0])[0].unsubscribed_at is not None
    assert consent_of(hub, ids[1]).granted is True
    # a second one-click changes nothing and tells nobody again
    assert call(app, "POST", unsubscribe_path(smtp_server, "c0@example.com"), **ONE_CLICK).status_code == 200
    assert len(spy.calls) == 1 and len(interactions(hub, "email_unsubscribed")) == 1
    # and the next campaign leaves the customer out
    assert send_campaign(hub, "survey")["enrolment"]["ineligible"] == {"no_consent": 1}


def test_one_click_also_accepts_the_multipart_form(sent, smtp_server):
    hub, app, ids, _ = sent
    response = call(app, "POST", unsubscribe_path(smtp_server, "c1@example.com"),
                    files={"List-Unsubscribe": (None, "One-Click")})
    assert response.status_code == 200 and consent_of(hub, ids[1]).granted is False


@pytest.mark.parametrize("body", [b"", b"List-Unsubscribe=Yes", b"List-Unsubscribe=One-Click&x=1",
                                  b"list-unsubscribe=one-click", b"\xff\xfe"])
def test_post_refuses_any_other_body(sent, smtp_server, body):
    hub, app, ids, spy = sent
    response = call(app, "POST", unsubscribe_path(smtp_server, "c0@example.com"), content=body,
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    assert consent_of(hub, ids[0]).granted is True and spy.calls == []


def test_the_body_link_unsubscribes_and_shows_a_page_without_javascript(sent, smtp_server):
    hub, app, ids, spy = sent
    link = [p for p in re.findall(rf"{PUBLIC_URL}/unsubscribe/[A-Za-z0-9_-]+",
                                  smtp_server.handler.to("c1@example.com")[0].parsed().get_body(("html",)).get_content())]

    response = call(app, "GET", _path(link[0]))

    assert response.status_code == 200 and "You are unsubscribed" in response.text
    assert "<script" not in response.text.lower() and "Shop" in response.text
    assert response.headers["cache-control"].startswith("no-store")
    assert consent_of(hub, ids[1]).granted is False
    assert interactions(hub, "email_unsubscribed")[0].data["method"] == "link"
    assert spy.calls == [(ids[1], "email", False, "email.main")]


def _tamper(path: str) -> str:
    head, token = path.rsplit("/", 1)
    flipped = ("A" if token[10] != "A" else "B")
    return f"{head}/{token[:10]}{flipped}{token[11:]}"


def test_tampered_forged_and_misused_tokens_are_refused(sent, smtp_server):
    hub, app, ids, spy = sent
    path = unsubscribe_path(smtp_server, "c0@example.com")
    send_id = sends(hub, customer_id=ids[0])[0].id
    forged = TokenSigner(b"someone-else's-key").sign(Purpose.UNSUBSCRIBE, send_id, ids[0])
    other_customer = TokenSigner(hub.secret_key).sign(Purpose.UNSUBSCRIBE, send_id, ids[1])
    open_token = html_links(smtp_server, "c0@example.com", "open")[0].rsplit("/", 1)[1]
    for bad in (_tamper(path), f"/unsubscribe/{forged}", f"/unsubscribe/{other_customer}",
                f"/unsubscribe/{open_token}", "/unsubscribe/not-a-token", path + "A"):
        assert call(app, "POST", bad, **ONE_CLICK).status_code == 400, bad
        assert call(app, "GET", bad).status_code == 400, bad
    assert consent_of(hub, ids[0]).granted is True and consent_of(hub, ids[1]).granted is True
    assert spy.calls == [] and interactions(hub, "email_unsubscribed") == []


def test_the_open_pixel_records_the_first_open(sent, smtp_server):
    hub, app, ids, _ = sent
    [pixel] = html_links(smtp_server, "c0@example.com", "open")

    first, second = call(app, "GET", pixel), call(app, "GET", pixel)

    assert first.status_code == second.status_code == 200
    assert first.headers["content-type"] == "image/gif" and first.content.startswith(b"GIF89a")
    [opened] = interactions(hub, "email_opened")
    assert opened.customer_id == ids[0]
    assert sends(hub, customer_id=ids[0])[0].opened_at is not None
    assert call(app, "GET", _tamper(pixel)).status_code == 400


def test_a_click_redirects_only_to_a_link_of_that_message(sent, smtp_server):
    hub, app, ids, _ = sent
    [click] = set(html_links(smtp_server, "c0@example.com", "click"))

    response = call(app, "GET", click)

    assert response.status_code == 302
    assert response.headers["location"] == "https://shop.example.com/spring?utm=mail&c=1"
    [clicked] = interactions(hub, "email_clicked")
    assert clicked.customer_id == ids[0] and clicked.data["url"] == response.headers["location"]
    row = sends(hub, customer_id=ids[0])[0]
    assert row.clicked_at is not None and row.opened_at is not None
    beyond = TokenSigner(hub.secret_key).sign(Purpose.CLICK, row.id, ids[0], 1)
    for bad in (f"/email/click/{beyond}", _tamper(click)):
        refused = call(app, "GET", bad)
        assert refused.status_code == 400 and "location" not in refused.headers


def test_a_survey_answer_is_recorded_and_can_be_changed(sent, smtp_server):
    hub, app, ids, _ = sent
    send_campaign(hub, "survey")
    message = smtp_server.handler.to("c0@example.com")[-1].parsed()
    assert "How likely are you to recommend us?" in message.get_body(("plain",)).get_content()
    links = html_links(smtp_server, "c0@example.com", "survey")
    assert len(links) == 11

    page = call(app, "GET", links[9])
    assert page.status_code == 200 and "You answered <strong>9</strong>" in page.text
    [answer] = interactions(hub, "survey_answer")
    assert (answer.customer_id, answer.value) == (ids[0], 9.0)
    assert answer.data["survey"] == "nps" and answer.data["survey_kind"] == "nps" and answer.data["scale"] == [0, 10]

    call(app, "GET", links[3])
    [answer] = interactions(hub, "survey_answer")
    assert answer.value == 3.0

    row = sends(hub, customer_id=ids[0], name="survey")[0]
    outside = TokenSigner(hub.secret_key).sign(Purpose.SURVEY, row.id, ids[0], 11)
    assert call(app, "GET", f"/email/survey/{outside}").status_code == 400
    spring = sends(hub, customer_id=ids[0], name="spring")[0]
    no_survey = TokenSigner(hub.secret_key).sign(Purpose.SURVEY, spring.id, ids[0], 5)
    assert call(app, "GET", f"/email/survey/{no_survey}").status_code == 400
    assert [a.value for a in interactions(hub, "survey_answer")] == [3.0]


def test_a_well_signed_token_of_a_vanished_send_is_not_found(sent):
    hub, app, ids, _ = sent
    token = TokenSigner(hub.secret_key).sign(Purpose.UNSUBSCRIBE, 9999, ids[0])
    assert call(app, "GET", f"/unsubscribe/{token}").status_code == 404
