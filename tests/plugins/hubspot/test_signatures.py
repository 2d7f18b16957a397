"""HubSpot webhook signatures v1, v2 and v3, against HubSpot's published examples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from crmhub.core.errors import WebhookRejected
from crmhub.core.webhooks import WebhookRequest
from crmhub.plugins.hubspot.signatures import (
    signature_v1,
    signature_v2,
    signature_v3,
    uri_forms,
    verify_signature,
)

SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
URL = "https://www.example.com/webhook_uri"
V3_BODY = b"{'example_field':'example_value'}"
V3_STAMP = 1693657560000
V1_BODY = (
    b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
    b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM",'
    b'"changeFlag":"NEW","appId":54321}]'
)


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def request(headers: dict[str, str], body: bytes, *, method: str = "POST", url: str = URL,
            received: datetime | None = None) -> WebhookRequest:
    return WebhookRequest(method=method, url=url, headers={k.lower(): v for k, v in headers.items()},
                          body=body, received_at=received or at(V3_STAMP))


def test_v3_matches_the_published_test_vector() -> None:
    assert signature_v3(SECRET, "POST", URL, V3_BODY, str(V3_STAMP)) == "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y="


def test_v1_and_v2_match_hubspots_examples() -> None:
    assert signature_v1(SECRET, V1_BODY) == "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
    assert signature_v2(SECRET, "GET", URL, b"") == "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"


def test_the_v3_vector_verifies_within_five_minutes_and_not_after() -> None:
    headers = {"X-HubSpot-Signature-v3": "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y=",
               "X-HubSpot-Request-Timestamp": str(V3_STAMP)}
    just_in_time = at(V3_STAMP) + timedelta(seconds=299.9)
    assert verify_signature(request(headers, V3_BODY, received=just_in_time), secret=SECRET, uri=URL) == "v3"
    with pytest.raises(WebhookRejected, match="older than five minutes"):
        verify_signature(request(headers, V3_BODY, received=at(V3_STAMP) + timedelta(seconds=300)),
                         secret=SECRET, uri=URL)
    with pytest.raises(WebhookRejected, match="ahead"):
        verify_signature(request(headers, V3_BODY, received=at(V3_STAMP) - timedelta(minutes=6)),
                         secret=SECRET, uri=URL)


@pytest.mark.parametrize("change", ["body", "uri", "method", "secret", "timestamp"])
def test_v3_covers_method_uri_body_and_timestamp(change: str) -> None:
    stamp, body, uri, method, secret = str(V3_STAMP), V3_BODY, URL, "POST", SECRET
    headers = {"X-HubSpot-Signature-v3": signature_v3(secret, method, uri, body, stamp),
               "X-HubSpot-Request-Timestamp": stamp}
    if change == "body":
        body = body.replace(b"value", b"valve")
    elif change == "uri":
        uri = URL + "?x=1"
    elif change == "method":
        method = "PUT"
    elif change == "secret":
        secret = "another-secret"
    else:
        headers["X-HubSpot-Request-Timestamp"] = str(V3_STAMP + 1)
    with pytest.raises(WebhookRejected, match="does not match"):
        verify_signature(request(headers, body, method=method), secret=secret, uri=uri)


def test_v3_accepts_the_uri_with_hubspots_escapes_decoded() -> None:
    signed = "https://hub.example.com/webhooks/hubspot/main?source=crm:contacts"
    given = "https://hub.example.com/webhooks/hubspot/main?source=crm%3Acontacts"
    assert uri_forms(given) == [given, signed]
    headers = {"X-HubSpot-Signature-v3": signature_v3(SECRET, "POST", signed, V3_BODY, str(V3_STAMP)),
               "X-HubSpot-Request-Timestamp": str(V3_STAMP)}
    assert verify_signature(request(headers, V3_BODY), secret=SECRET, uri=given) == "v3"


def test_v1_and_v2_by_their_version_header() -> None:
    v1 = {"X-HubSpot-Signature": signature_v1(SECRET, V1_BODY), "X-HubSpot-Signature-Version": "v1"}
    assert verify_signature(request(v1, V1_BODY), secret=SECRET, uri=URL) == "v1"
    v2 = {"X-HubSpot-Signature": signature_v2(SECRET, "POST", URL, V1_BODY), "X-HubSpot-Signature-Version": "v2"}
    assert verify_signature(request(v2, V1_BODY), secret=SECRET, uri=URL) == "v2"
    with pytest.raises(WebhookRejected, match="v2 signature does not match"):
        verify_signature(request(v2, V1_BODY), secret=SECRET, uri=URL + "/other")
    with pytest.raises(WebhookRejected, match="unknown HubSpot signature version"):
        verify_signature(request({**v1, "X-HubSpot-Signature-Version": "v9"}, V1_BODY), secret=SECRET, uri=URL)


def test_a_failed_v3_signature_does_not_fall_back_to_v1() -> None:
    """HubSpot sends the older signatures too; an old request replayed after five minutes
    must not pass on its v1 signature, which has no timestamp."""
    headers = {"X-HubSpot-Signature": signature_v1(SECRET, V1_BODY), "X-HubSpot-Signature-Version": "v1",
               "X-HubSpot-Signature-v3": signature_v3(SECRET, "POST", URL, V1_BODY, str(V3_STAMP)),
               "X-HubSpot-Request-Timestamp": str(V3_STAMP)}
    with pytest.raises(WebhookRejected, match="older"):
        verify_signature(request(headers, V1_BODY, received=at(V3_STAMP) + timedelta(hours=1)),
                         secret=SECRET, uri=URL)


def test_missing_signature_is_rejected() -> None:
    with pytest.raises(WebhookRejected, match="no HubSpot signature"):
        verify_signature(request({}, V1_BODY), secret=SECRET, uri=URL)
    with pytest.raises(WebhookRejected, match="not a number"):
        verify_signature(request({"X-HubSpot-Signature-v3": "x"}, V1_BODY), secret=SECRET, uri=URL)
