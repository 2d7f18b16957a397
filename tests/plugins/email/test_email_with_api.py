"""The email routes inside the hub's real app (``create_app``): public links and the admin
report behind the API key. Runs once the API layer (crmhub.core.api) is installed."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from email_support import PUBLIC_URL, add_customers, consent_of, join_segment

from crmhub.plugins.email.campaigns import send_campaign

api = pytest.importorskip("crmhub.core.api", reason="the API layer (create_app) is not on this branch yet")

AUTH = {"Authorization": "Bearer test-api-key"}


def call(app: Any, method: str, url: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as client:
            return await client.request(method, url, **kwargs)

    return asyncio.run(go())


def test_links_and_the_report_through_create_app(email_hub, smtp_server):
    hub = email_hub()
    ids = add_customers(hub, 2)
    join_segment(hub, "champions", ids)
    send_campaign(hub, "spring")
    app = api.create_app(hub)

    header = smtp_server.handler.to("c0@example.com")[0].parsed()["List-Unsubscribe"]
    path = re.search(r"<https://hub\.example\.com(/unsubscribe/[^>]+)>", header).group(1)
    done = call(app, "POST", path, content=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert done.status_code == 200 and consent_of(hub, ids[0]).granted is False
    assert call(app, "GET", path[:-3] + "xyz").status_code == 400

    assert call(app, "GET", "/api/v1/email/campaigns/spring/report").status_code == 401
    found = call(app, "GET", "/api/v1/email/campaigns/spring/report", headers=AUTH)
    assert found.status_code == 200
    body = found.json()
    assert body["delivery"]["delivered"] == 2 and body["delivery"]["unsubscribed"] == 1
    assert body["arms"]["treated"]["customers"] == 2
    assert call(app, "GET", "/api/v1/email/campaigns/nope/report", headers=AUTH).status_code == 404

    paths = call(app, "GET", "/openapi.json").json()["paths"]
    assert {"/unsubscribe/{token}", "/email/click/{token}", "/api/v1/email/campaigns/{name}/report"} <= set(paths)
