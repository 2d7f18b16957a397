"""HubSpot webhook signatures v1, v2 and v3, computed as HubSpot computes them.

=======  ==============================================  ====================================
version  headers                                         value
=======  ==============================================  ====================================
v1       ``X-HubSpot-Signature`` (+ ``-Version: v1``)    ``sha256_hex(secret + body)``
v2       ``X-HubSpot-Signature`` (+ ``-Version: v2``)    ``sha256_hex(secret + method + uri + body)``
v3       ``X-HubSpot-Signature-v3``,                     ``base64(HMAC-SHA256(secret,
         ``X-HubSpot-Request-Timestamp`` (ms)            method + uri + body + timestamp))``
=======  ==============================================  ====================================

The URI is the full URL the sender used (scheme, host, path and query in their order) — the
hub's public URL, not the one a proxy forwarded to. v3 is preferred when its header is
present; its timestamp must be within five minutes of the receive time (older is a replay,
newer a forgery or a broken clock). For v3 HubSpot's guide decodes a few percent-escapes
in the URI (``%3A`` → ``:`` …) while its Python SDK signs the URI as given: both forms are
accepted. Every comparison is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

from crmhub.core.errors import WebhookRejected
from crmhub.core.webhooks import WebhookRequest

MAX_SKEW_MS = 300_000
_DECODED = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'",
            "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}


def signature_v1(secret: str, body: bytes) -> str:
    """v1: hex SHA-256 of ``secret + body``."""
    return hashlib.sha256(secret.encode() + body).hexdigest()


def signature_v2(secret: str, method: str, uri: str, body: bytes) -> str:
    """v2: hex SHA-256 of ``secret + method + uri + body``."""
    return hashlib.sha256((secret + method + uri).encode() + body).hexdigest()


def signature_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """v3: base64 of HMAC-SHA256 keyed by ``secret`` over ``method + uri + body + timestamp``."""
    message = (method + uri).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def uri_forms(uri: str) -> list[str]:
    """The URI as given, and with HubSpot's listed percent-escapes decoded (case-insensitive)."""
    decoded = uri
    for escape, char in _DECODED.items():
        decoded = decoded.replace(escape, char).replace(escape.lower(), char)
    return [uri] if decoded == uri else [uri, decoded]


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


def verify_signature(request: WebhookRequest, *, secret: str, uri: str) -> str:
    """Check a delivery's signature; returns the version that matched.

    :param uri: the public URL the sender signed.
    :raises WebhookRejected: missing or wrong signature, unknown version, stale timestamp.
    """
    method = request.method.upper()
    v3 = request.header("x-hubspot-signature-v3")
    if v3:
        _check_timestamp(request.header("x-hubspot-request-timestamp"), request.received_at)
        stamp = str(request.header("x-hubspot-request-timestamp")).strip()
        if any(_same(signature_v3(secret, method, form, request.body, stamp), v3.strip()) for form in uri_forms(uri)):
            return "v3"
        raise WebhookRejected("HubSpot v3 signature does not match")
    given = request.header("x-hubspot-signature")
    if not given:
        raise WebhookRejected("no HubSpot signature header")
    version = (request.header("x-hubspot-signature-version") or "v1").strip().lower()
    if version == "v1":
        expected = signature_v1(secret, request.body)
    elif version == "v2":
        expected = signature_v2(secret, method, uri, request.body)
    else:
        raise WebhookRejected(f"unknown HubSpot signature version {version[:10]!r}")
    if not _same(expected, given.strip().lower()):
        raise WebhookRejected(f"HubSpot {version} signature does not match")
    return version


def _check_timestamp(value: str | None, received_at: datetime) -> None:
    try:
        stamp = int(str(value).strip())
    except ValueError:
        raise WebhookRejected("X-HubSpot-Request-Timestamp is missing or not a number") from None
    skew = int(received_at.timestamp() * 1000) - stamp
    if skew >= MAX_SKEW_MS:
        raise WebhookRejected("HubSpot request timestamp is older than five minutes")
    if skew <= -MAX_SKEW_MS:
        raise WebhookRejected("HubSpot request timestamp is more than five minutes ahead")
