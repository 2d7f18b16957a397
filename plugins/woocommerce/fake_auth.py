"""Authentication of the fake WooCommerce REST API: HTTP Basic and OAuth 1.0a one-legged.

WooCommerce accepts the consumer key and secret as HTTP Basic credentials (or, for servers
that drop ``Authorization``, as ``consumer_key``/``consumer_secret`` query parameters). Over
plain HTTP it expects OAuth 1.0a "one-legged" instead: ``oauth_consumer_key``,
``oauth_timestamp``, ``oauth_nonce``, ``oauth_signature_method`` (``HMAC-SHA1`` or
``HMAC-SHA256``) and ``oauth_signature`` in the query string, signed with the key
``consumer_secret + "&"`` (no token). The body is not signed; a timestamp more than 15
minutes away is refused and a nonce can be used once.

The signature base string is built exactly as RFC 5849 §3.4.1 says, which is what
WooCommerce's ``check_oauth_signature`` computes (its ``join_with_equals_sign`` encodes each
``key=value`` pair a second time): ``METHOD & enc(base URI) & enc(sorted enc(k)=enc(v)
pairs joined by &)`` with RFC 3986 percent-encoding, and a base URI of lower-case scheme and
host, no default port, no query. :func:`sign_oauth` is the client side, for tests and tools.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import quote, urlsplit

__all__ = [
    "OAuthVerifier",
    "normalize_base_uri",
    "oauth_signature",
    "percent_encode",
    "signature_base_string",
    "sign_oauth",
]

WINDOW_SECONDS = 15 * 60
_HASHES = {"HMAC-SHA1": hashlib.sha1, "HMAC-SHA256": hashlib.sha256}
REQUIRED = (
    "oauth_consumer_key",
    "oauth_timestamp",
    "oauth_nonce",
    "oauth_signature",
    "oauth_signature_method",
)


def percent_encode(value: str) -> str:
    """RFC 3986 percent-encoding as RFC 5849 §3.6 requires (unreserved: ALPHA DIGIT - . _ ~)."""
    return quote(value, safe="-._~")


def normalize_base_uri(url: str) -> str:
    """RFC 5849 §3.4.1.2 base string URI: lower-case scheme and host, no default port, no query."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is not None and not (
        (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
    ):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{parts.path or '/'}"


def signature_base_string(method: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """RFC 5849 §3.4.1 signature base string (``oauth_signature`` itself is left out)."""
    pairs = sorted(
        (percent_encode(k), percent_encode(v)) for k, v in params if k != "oauth_signature"
    )
    normalized = "&".join(f"{k}={v}" for k, v in pairs)
    return "&".join(
        [method.upper(), percent_encode(normalize_base_uri(url)), percent_encode(normalized)]
    )


def oauth_signature(
    method: str,
    url: str,
    params: Iterable[tuple[str, str]],
    consumer_secret: str,
    signature_method: str = "HMAC-SHA256",
) -> str:
    """base64 HMAC of the base string, keyed ``consumer_secret&`` (one-legged: no token)."""
    digest = _HASHES[signature_method]
    key = (percent_encode(consumer_secret) + "&").encode()
    base = signature_base_string(method, url, params).encode()
    return base64.b64encode(hmac.new(key, base, digest).digest()).decode()


def sign_oauth(
    method: str,
    url: str,
    consumer_key: str,
    consumer_secret: str,
    params: Mapping[str, str] | None = None,
    *,
    signature_method: str = "HMAC-SHA256",
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The query parameters of a signed request: ``params`` plus the five ``oauth_*`` ones."""
    query = dict(params or {})
    query.update(
        {
            "oauth_consumer_key": consumer_key,
            "oauth_timestamp": str(int(time.time()) if timestamp is None else timestamp),
            "oauth_nonce": nonce or secrets.token_hex(16),
            "oauth_signature_method": signature_method,
        }
    )
    query["oauth_signature"] = oauth_signature(
        method, url, query.items(), consumer_secret, signature_method
    )
    return query


class OAuthVerifier:
    """Server side of the one-legged flow, with WooCommerce's error codes and messages.

    :param consumer_key: the expected key; :param consumer_secret: its secret.
    :param time_fn: wall clock (seconds) for the 15-minute window.
    """

    def __init__(
        self, consumer_key: str, consumer_secret: str, time_fn: Callable[[], float] = time.time
    ) -> None:
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self._time = time_fn
        self._lock = threading.Lock()
        self._nonces: dict[str, float] = {}

    def verify(
        self, method: str, url: str, params: list[tuple[str, str]]
    ) -> tuple[str, str] | None:
        """Check a request; None when valid, else ``(code, message)`` for a 401."""
        given = dict(params)
        for name in REQUIRED:
            if not given.get(name):
                return (
                    "woocommerce_rest_authentication_missing_parameter",
                    f"Missing OAuth parameter {name}",
                )
        if not hmac.compare_digest(
            given["oauth_consumer_key"].encode(), self.consumer_key.encode()
        ):
            return "woocommerce_rest_authentication_error", "Consumer key is invalid."
        algorithm = given["oauth_signature_method"]
        if algorithm not in _HASHES:
            return (
                "woocommerce_rest_authentication_error",
                "Invalid signature - signature method is invalid.",
            )
        provided = given["oauth_signature"].replace(" ", "+")
        expected = oauth_signature(method, url, params, self.consumer_secret, algorithm)
        if not hmac.compare_digest(provided.encode(), expected.encode()):
            return (
                "woocommerce_rest_authentication_error",
                "Invalid signature - provided signature does not match.",
            )
        try:
            stamp = int(given["oauth_timestamp"])
        except ValueError:
            return "woocommerce_rest_authentication_error", "Invalid timestamp."
        now = self._time()
        if stamp < now - WINDOW_SECONDS or stamp > now + WINDOW_SECONDS:
            return "woocommerce_rest_authentication_error", "Invalid timestamp."
        with self._lock:
            self._nonces = {n: t for n, t in self._nonces.items() if t >= now - WINDOW_SECONDS}
            if given["oauth_nonce"] in self._nonces:
                return (
                    "woocommerce_rest_authentication_error",
                    "Invalid nonce - nonce has already been used.",
                )
            self._nonces[given["oauth_nonce"]] = float(stamp)
        return None
