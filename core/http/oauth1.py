"""OAuth 1.0a one-legged signing in the query string (WooCommerce over plain HTTP).

WooCommerce accepts HTTP Basic auth over HTTPS only; over plain HTTP it wants each request
signed with OAuth 1.0a "one-legged" (no token): the ``oauth_*`` parameters travel in the
query string, the signature key is ``consumer_secret&``, the body is not signed, and the
timestamp must be within 15 minutes of the server's clock. The signature follows RFC 5849
§3.4: the base string is ``METHOD&encoded-base-URI&encoded-normalised-parameters`` where the
parameters (query plus ``oauth_*``) are percent-encoded (RFC 3986 unreserved characters
kept), sorted by name then value and joined with ``=`` and ``&``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Generator, Iterable
from typing import Literal
from urllib.parse import parse_qsl, quote

import httpx
from crmhub.core.errors import register_secret

SignatureMethod = Literal["HMAC-SHA1", "HMAC-SHA256"]
_DIGESTS = {"HMAC-SHA1": hashlib.sha1, "HMAC-SHA256": hashlib.sha256}


def percent_encode(value: str) -> str:
    """Percent-encode per RFC 5849 §3.6: UTF-8, everything but ``A-Z a-z 0-9 - . _ ~``."""
    return quote(value, safe="-._~")


def base_string_uri(url: httpx.URL) -> str:
    """Return the base string URI (RFC 5849 §3.4.1.2): no query, default port dropped."""
    scheme, host = url.scheme.lower(), (url.host or "").lower()
    port = (
        ""
        if url.port is None or (scheme, url.port) in (("http", 80), ("https", 443))
        else (f":{url.port}")
    )
    path = url.raw_path.split(b"?", 1)[0].decode("ascii") or "/"
    return f"{scheme}://{host}{port}{path}"


def normalized_parameters(params: Iterable[tuple[str, str]]) -> str:
    """Encode, sort (by name, then value) and join parameters (RFC 5849 §3.4.1.3.2)."""
    encoded = sorted((percent_encode(name), percent_encode(value)) for name, value in params)
    return "&".join(f"{name}={value}" for name, value in encoded)


def signature_base_string(method: str, url: httpx.URL, params: Iterable[tuple[str, str]]) -> str:
    """Return ``METHOD&uri&params`` (RFC 5849 §3.4.1); ``params`` include the query's."""
    return "&".join(
        (
            method.upper(),
            percent_encode(base_string_uri(url)),
            percent_encode(normalized_parameters(params)),
        )
    )


def sign(
    base_string: str,
    consumer_secret: str,
    token_secret: str = "",
    method: SignatureMethod = "HMAC-SHA1",
) -> str:
    """Return the base64 HMAC of ``base_string`` keyed ``secret&token_secret`` (§3.4.2)."""
    key = f"{percent_encode(consumer_secret)}&{percent_encode(token_secret)}"
    digest = hmac.new(key.encode(), base_string.encode(), _DIGESTS[method]).digest()
    return base64.b64encode(digest).decode("ascii")


class OAuth1QueryAuth(httpx.Auth):
    """Signs every request with one-legged OAuth 1.0a parameters in the query string.

    :param consumer_key: the ``ck_...`` key.
    :param consumer_secret: the ``cs_...`` secret (registered for redaction).
    :param signature_method: ``"HMAC-SHA256"`` (default) or ``"HMAC-SHA1"``.
    :param clock: Unix time for ``oauth_timestamp`` (injectable for tests).
    :param nonce: makes ``oauth_nonce`` (injectable for tests).
    """

    def __init__(
        self,
        consumer_key: str,
        consumer_secret: str,
        *,
        signature_method: SignatureMethod = "HMAC-SHA256",
        clock: Callable[[], float] = time.time,
        nonce: Callable[[], str] = lambda: secrets.token_hex(16),
    ) -> None:
        if signature_method not in _DIGESTS:
            raise ValueError(f"unsupported signature method {signature_method!r}")
        register_secret(consumer_key)
        register_secret(consumer_secret)
        self.consumer_key = consumer_key
        self._consumer_secret = consumer_secret
        self.signature_method = signature_method
        self._clock = clock
        self._nonce = nonce

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add ``oauth_*`` parameters and ``oauth_signature`` to the query, then send."""
        query = [
            (name, value)
            for name, value in parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True)
            if name != "oauth_signature"
        ]
        params = query + [
            ("oauth_consumer_key", self.consumer_key),
            ("oauth_nonce", self._nonce()),
            ("oauth_signature_method", self.signature_method),
            ("oauth_timestamp", str(int(self._clock()))),
        ]
        base = signature_base_string(request.method, request.url, params)
        signature = sign(base, self._consumer_secret, "", self.signature_method)
        signed = params + [("oauth_signature", signature)]
        new_query = "&".join(f"{percent_encode(n)}={percent_encode(v)}" for n, v in signed)
        request.url = request.url.copy_with(query=new_query.encode("ascii"))
        yield request
