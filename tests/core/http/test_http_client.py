"""ApiClient against a real loopback server: retries, errors, secrets, timeouts."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest
from crmhub.core.errors import (
    PermanentRemoteError,
    RateLimited,
    RemoteAuthError,
    TransientRemoteError,
)
from crmhub.core.http import ApiClient, RetryPolicy
from http_fakes import FakeClock, Reply, ScriptedApi

Serve = Callable[..., str]


@pytest.fixture
def api(serve: Serve) -> tuple[ScriptedApi, str]:
    fake = ScriptedApi()
    return fake, serve(fake.app)


def make_client(url: str, clock: FakeClock, **kwargs: object) -> ApiClient:
    kwargs.setdefault("retry", RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=8))
    return ApiClient(url, sleep=clock.sleep, clock=clock, rand=lambda: 0.5, **kwargs)  # type: ignore[arg-type]


def test_retries_500_then_succeeds(api: tuple[ScriptedApi, str], clock: FakeClock) -> None:
    fake, url = api
    fake.script("items", Reply(500, {"error": "boom"}), Reply(200, {"items": [1, 2]}))
    with make_client(url, clock) as client:
        assert client.get_json("items") == {"items": [1, 2]}
    assert fake.count("items") == 2
    assert clock.sleeps == [0.25]  # full jitter: half of base_delay * 2**0 with rand 0.5


@pytest.mark.parametrize("status", [502, 503, 504])
def test_retries_other_gateway_errors(
    api: tuple[ScriptedApi, str], clock: FakeClock, status: int
) -> None:
    fake, url = api
    fake.script("x", Reply(status), Reply(status), Reply(200))
    with make_client(url, clock) as client:
        assert client.request("GET", "x").status_code == 200
    assert fake.count("x") == 3
    assert clock.sleeps == [0.25, 0.5]  # the back-off cap doubles


@pytest.mark.parametrize("header", ["2", "2.0"])
def test_429_honours_retry_after_seconds(
    api: tuple[ScriptedApi, str], clock: FakeClock, header: str
) -> None:
    fake, url = api
    fake.script("x", Reply(429, {"errors": "slow down"}, {"Retry-After": header}), Reply(200))
    with make_client(url, clock) as client:
        client.request("GET", "x")
    assert clock.sleeps == [2.0]


def test_429_honours_retry_after_http_date(api: tuple[ScriptedApi, str], clock: FakeClock) -> None:
    fake, url = api
    when = datetime(2030, 1, 1, 12, 0, 7, tzinfo=UTC)
    clock.now = when.timestamp() - 7
    fake.script("x", Reply(429, headers={"Retry-After": format_datetime(when, usegmt=True)}))
    with make_client(url, clock) as client:
        client.request("GET", "x")
    assert clock.sleeps == [7.0]


def test_exhausted_retries_raise_transient_with_retry_after(
    api: tuple[ScriptedApi, str], clock: FakeClock
) -> None:
    fake, url = api
    fake.script("x", *[Reply(503, "<html>down for maintenance</html>")] * 4)
    with make_client(url, clock, instance="shopify.main") as client:
        with pytest.raises(TransientRemoteError) as caught:
            client.request("GET", "x")
    error = caught.value
    assert fake.count("x") == 4 and len(clock.sleeps) == 3
    assert error.retry_after == 2.0  # the next back-off the job layer should wait
    assert error.status_code == 503 and error.instance == "shopify.main"
    assert isinstance(error.request, httpx.Request) and error.response is not None
    assert "GET /x -> 503" in str(error) and "down for maintenance" in str(error)
    assert error.kind == "transient"


def test_exhausted_429_raise_rate_limited(api: tuple[ScriptedApi, str], clock: FakeClock) -> None:
    fake, url = api
    fake.script("x", *[Reply(429, headers={"Retry-After": "3"})] * 4)
    with make_client(url, clock) as client, pytest.raises(RateLimited) as caught:
        client.request("GET", "x")
    assert caught.value.retry_after == 3.0
    assert clock.sleeps == [3.0, 3.0, 3.0]


def test_retry_after_beyond_total_wait_is_raised_at_once(
    api: tuple[ScriptedApi, str], clock: FakeClock
) -> None:
    fake, url = api
    fake.script("x", Reply(429, headers={"Retry-After": "600"}))
    retry = RetryPolicy(max_attempts=5, max_total_wait=60)
    with make_client(url, clock, retry=retry) as client, pytest.raises(RateLimited) as caught:
        client.request("GET", "x")
    assert caught.value.retry_after == 600.0
    assert fake.count("x") == 1 and clock.sleeps == []


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_are_not_retried(
    api: tuple[ScriptedApi, str], clock: FakeClock, status: int
) -> None:
    fake, url = api
    fake.script("x", Reply(status, {"errors": "[API] Invalid API key"}))
    with make_client(url, clock) as client, pytest.raises(RemoteAuthError) as caught:
        client.request("GET", "x")
    assert fake.count("x") == 1 and clock.sleeps == []
    assert caught.value.kind == "config"


@pytest.mark.parametrize("status", [400, 404, 422])
def test_other_4xx_are_permanent_and_not_retried(
    api: tuple[ScriptedApi, str], clock: FakeClock, status: int
) -> None:
    fake, url = api
    fake.script("missing", Reply(status, {"errors": "Not Found"}))
    with make_client(url, clock) as client, pytest.raises(PermanentRemoteError) as caught:
        client.request("GET", "missing")
    assert not isinstance(caught.value, RemoteAuthError)
    assert fake.count("missing") == 1 and clock.sleeps == []
    assert f"GET /missing -> {status}" in str(caught.value)


def test_secrets_never_reach_messages_or_logs(
    api: tuple[ScriptedApi, str], clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    fake, url = api
    token, query_token = "shpat_0123456789abcdef", "qs-secret-987654"
    fake.script("x", *[Reply(500, f"bad token {token}, Authorization: Bearer {token}")] * 4)
    fake.script("y", Reply(404, f"no such key {query_token}"))
    caplog.set_level(logging.DEBUG, logger="crmhub.http")
    headers = {"X-Shopify-Access-Token": token, "Authorization": f"Bearer {token}"}
    with make_client(url, clock, headers=headers) as client:
        with pytest.raises(TransientRemoteError) as first:
            client.request("GET", "x", params={"access_token": query_token})
        with pytest.raises(PermanentRemoteError) as second:
            client.request("GET", "y", params={"access_token": query_token})
    assert fake.calls[0]["headers"]["x-shopify-access-token"] == token  # it was sent
    for text in (str(first.value), str(second.value), caplog.text):
        assert token not in text and query_token not in text
    assert "GET /x -> 500" in str(first.value)


def test_timeouts_are_retried(api: tuple[ScriptedApi, str], clock: FakeClock) -> None:
    fake, url = api
    # Given a first answer far slower than the client's timeout (later ones are quick)
    fake.script("slow", Reply(200, delay=1.0), *[Reply(200, {"fast": True})] * 3)
    with make_client(url, clock, timeout=0.25) as client:
        # When the client asks, Then it times out, backs off and gets the quick answer
        assert client.get_json("slow") == {"fast": True}
    attempts = fake.count("slow")
    assert attempts >= 2 and len(clock.sleeps) == attempts - 1


def test_connection_errors_are_retried_then_raised(clock: FakeClock) -> None:
    # Given a port where nothing listens
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # When every attempt is refused
    with make_client(f"http://127.0.0.1:{port}", clock) as client:
        with pytest.raises(TransientRemoteError) as caught:
            client.request("GET", "x")
    # Then all attempts were made and the error says what failed
    assert len(clock.sleeps) == 3
    assert "connection failed" in str(caught.value) and caught.value.response is None


def test_user_agent_and_default_headers(api: tuple[ScriptedApi, str], clock: FakeClock) -> None:
    fake, url = api
    with make_client(url, clock, headers={"X-Extra": "1"}) as client:
        client.request("POST", "x", json={"a": 1}, headers={"X-Call": "2"})
    headers = fake.calls[0]["headers"]
    assert headers["user-agent"].startswith("crmhub/")
    assert headers["x-extra"] == "1" and headers["x-call"] == "2"
    assert fake.calls[0]["body"] == b'{"a":1}'


# ---- byte-level edge cases (MockTransport) ------------------------------------------------


def test_non_json_body_is_a_transient_error(clock: FakeClock) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text="<html>"))
    with make_client("https://api.example", clock, transport=transport) as client:
        with pytest.raises(TransientRemoteError, match="not JSON"):
            client.get_json("x")


def test_unreadable_retry_after_falls_back_to_backoff(clock: FakeClock) -> None:
    replies = iter([httpx.Response(429, headers={"Retry-After": "soon"}), httpx.Response(200)])
    transport = httpx.MockTransport(lambda request: next(replies))
    with make_client("https://api.example", clock, transport=transport) as client:
        client.request("GET", "x")
    assert clock.sleeps == [0.25]


def test_dropped_connection_is_retried(clock: FakeClock) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.RemoteProtocolError("Server disconnected", request=request)
        return httpx.Response(200, json={"ok": True})

    with make_client("https://api.example", clock, transport=httpx.MockTransport(handler)) as c:
        assert c.get_json("x") == {"ok": True}
    assert len(calls) == 2
