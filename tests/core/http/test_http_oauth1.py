"""OAuth 1.0a one-legged signing: published vectors, and a WooCommerce-like verifier on loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import parse_qsl, quote

import httpx
import pytest
from crmhub.core.errors import RemoteAuthError
from crmhub.core.http import ApiClient, OAuth1QueryAuth
from crmhub.core.http.oauth1 import (
    base_string_uri,
    percent_encode,
    sign,
    signature_base_string,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

# RFC 5849 §3.4.1.1: the example request and its signature base string.
RFC_URL = "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b"
RFC_BASE = (
    "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D"
    "%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a"
    "%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3"
    "k39sjv7"
)


def test_rfc5849_signature_base_string() -> None:
    url = httpx.URL(RFC_URL)
    params = parse_qsl(url.query.decode(), keep_blank_values=True) + [
        ("c2", ""),
        ("a3", "2 q"),  # the form body of the example
        ("oauth_consumer_key", "9djdj82h48djs9d2"),
        ("oauth_token", "kkk9d7dh3k39sjv7"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "137131201"),
        ("oauth_nonce", "7d8f3e4a"),
    ]
    assert signature_base_string("post", url, params) == RFC_BASE


def test_oauth_core_appendix_a_signature() -> None:
    # OAuth Core 1.0 Appendix A.5: the photos.example.net request, HMAC-SHA1
    params = [
        ("file", "vacation.jpg"),
        ("size", "original"),
        ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
        ("oauth_token", "nnch734d00sl2jdk"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "1191242096"),
        ("oauth_nonce", "kllo9940pd9333jh"),
        ("oauth_version", "1.0"),
    ]
    base = signature_base_string("GET", httpx.URL("http://photos.example.net/photos"), params)
    assert sign(base, "kd94hf93k423kf44", "pfkkdhi9sl3r4s00") == "tR3+Ty81lMeYAr/Fid0kMTYa/WM="


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("Ladies + Gentlemen", "Ladies%20%2B%20Gentlemen"),
        ("An encoded string!", "An%20encoded%20string%21"),
        ("Dogs, Cats & Mice", "Dogs%2C%20Cats%20%26%20Mice"),
        ("☃", "%E2%98%83"),
        ("-._~", "-._~"),
    ],
)
def test_percent_encoding(raw: str, encoded: str) -> None:
    assert percent_encode(raw) == encoded


def test_base_string_uri_normalises_scheme_host_and_default_port() -> None:
    assert base_string_uri(httpx.URL("HTTP://EXAMPLE.COM:80/r%20v/X?id=123")) == (
        "http://example.com/r%20v/X"
    )
    assert base_string_uri(httpx.URL("https://www.example.net:8080/?q=1")) == (
        "https://www.example.net:8080/"
    )


@pytest.mark.parametrize(
    ("method", "digest"), [("HMAC-SHA1", hashlib.sha1), ("HMAC-SHA256", hashlib.sha256)]
)
def test_one_legged_request_is_signed_in_the_query(method: str, digest: Callable) -> None:  # type: ignore[type-arg]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    auth = OAuth1QueryAuth(
        "ck_key",
        "cs_secret",
        signature_method=method,  # type: ignore[arg-type]
        clock=lambda: 1700000000.5,
        nonce=lambda: "abc123",
    )
    with ApiClient(
        "http://shop.example/wp-json/wc/v3/", auth=auth, transport=httpx.MockTransport(handler)
    ) as client:
        client.request("GET", "orders", params={"per_page": 2})
    base = (
        "GET&http%3A%2F%2Fshop.example%2Fwp-json%2Fwc%2Fv3%2Forders&oauth_consumer_key%3Dck_key"
        f"%26oauth_nonce%3Dabc123%26oauth_signature_method%3D{method}"
        "%26oauth_timestamp%3D1700000000%26per_page%3D2"
    )
    expected = base64.b64encode(hmac.new(b"cs_secret&", base.encode(), digest).digest()).decode()
    query = dict(parse_qsl(seen[0].url.query.decode()))
    assert query == {
        "per_page": "2",
        "oauth_consumer_key": "ck_key",
        "oauth_nonce": "abc123",
        "oauth_signature_method": method,
        "oauth_timestamp": "1700000000",
        "oauth_signature": expected,
    }
    assert "authorization" not in seen[0].headers


class WooVerifier:
    """A WooCommerce-like endpoint that checks one-legged OAuth 1.0a like the plugin does."""

    def __init__(self, key: str, secret: str) -> None:
        self.key, self.secret = key, secret
        self.nonces: set[str] = set()
        self.bodies: list[bytes] = []
        self.app = Starlette(
            routes=[Route("/wp-json/wc/v3/{path:path}", self.handle, methods=["GET", "POST"])]
        )

    def expected(self, request: Request, params: list[tuple[str, str]]) -> str:
        enc = lambda s: quote(s, safe="~")
        pairs = sorted((enc(k), enc(v)) for k, v in params if k != "oauth_signature")
        url = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
        base = "&".join([request.method, enc(url), enc("&".join(f"{k}={v}" for k, v in pairs))])
        algo = (
            hashlib.sha256
            if dict(params)["oauth_signature_method"] == "HMAC-SHA256"
            else hashlib.sha1
        )
        mac = hmac.new(f"{self.secret}&".encode(), base.encode(), algo).digest()
        return base64.b64encode(mac).decode()

    async def handle(self, request: Request) -> Response:
        params = parse_qsl(request.url.query, keep_blank_values=True)
        given = dict(params)
        self.bodies.append(await request.body())
        if (
            given.get("oauth_consumer_key") != self.key
            or abs(time.time() - int(given.get("oauth_timestamp", 0))) > 900
            or given.get("oauth_nonce") in self.nonces
            or not hmac.compare_digest(
                given.get("oauth_signature", ""), self.expected(request, params)
            )
        ):
            return JSONResponse({"code": "woocommerce_rest_authentication_error"}, 401)
        self.nonces.add(given["oauth_nonce"])
        return JSONResponse({"ok": True, "search": given.get("search")})


def test_woocommerce_style_server_accepts_signed_requests(serve: Callable[..., str]) -> None:
    fake = WooVerifier("ck_live_key", "cs_live_secret")
    base = serve(fake.app) + "/wp-json/wc/v3/"
    with ApiClient(base, auth=OAuth1QueryAuth("ck_live_key", "cs_live_secret")) as client:
        # odd characters in the query survive signing
        assert client.get_json("customers", params={"search": "Zoë & Co+1 ~x"}) == {
            "ok": True,
            "search": "Zoë & Co+1 ~x",
        }
        # the JSON body is not signed
        client.request("POST", "orders", json={"status": "completed"})
        assert fake.bodies[-1] == b'{"status":"completed"}'
    with ApiClient(
        base, auth=OAuth1QueryAuth("ck_live_key", "wrong", signature_method="HMAC-SHA1")
    ) as client:
        with pytest.raises(RemoteAuthError) as caught:
            client.request("GET", "customers")
    assert "cs_live_secret" not in str(caught.value) and "ck_live_key" not in str(caught.value)
