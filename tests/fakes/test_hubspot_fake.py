"""The fake HubSpot behaves like the CRM v3 contacts and lists APIs over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from crmhub.core.testing.fake_controls import Clock
from crmhub.core.testing.receiver import RecordingReceiver
from crmhub.plugins.hubspot.fake import (
    FakeHubSpot,
    hubspot_signature_v1,
    hubspot_signature_v2,
    hubspot_signature_v3,
)

C = "/crm/v3/objects/contacts"
L = "/crm/v3/lists"
START = datetime(2024, 9, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def portal() -> Iterator[FakeHubSpot]:
    """A seeded portal with no rate limits, shared by read-only tests."""
    fake = FakeHubSpot(rate_limit=False, clock=Clock(START))
    fake.seed(250, seed=2)
    with fake:
        yield fake


@pytest.fixture
def fresh() -> Iterator[FakeHubSpot]:
    """A small portal per test (rate limits on, but far from reached)."""
    fake = FakeHubSpot(clock=Clock(START), search_per_second=1000)
    fake.seed(20, seed=9)
    with fake:
        yield fake


def client(fake: FakeHubSpot) -> httpx.Client:
    return httpx.Client(base_url=fake.url, headers={"Authorization": f"Bearer {fake.access_token}"})


# --- signatures ------------------------------------------------------------------------------


def test_v3_signature_matches_the_published_test_vector() -> None:
    signature = hubspot_signature_v3(
        "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
        "POST",
        "https://www.example.com/webhook_uri",
        "{'example_field':'example_value'}",
        1693657560000,
    )
    assert signature == "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y="


def test_v1_and_v2_signatures() -> None:
    body = '[{"eventId":1}]'
    assert (
        hubspot_signature_v1("secret", body)
        == hashlib.sha256(b"secret" + body.encode()).hexdigest()
    )
    uri = "https://hub.example/webhooks/hubspot/main?a=1"
    assert (
        hubspot_signature_v2("secret", "POST", uri, body)
        == hashlib.sha256(("secretPOST" + uri + body).encode()).hexdigest()
    )


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_deliveries_are_signed_as_documented(fresh: FakeHubSpot, version: str) -> None:
    receiver = RecordingReceiver()
    cid = fresh.contact_ids[0]
    events = [
        fresh.event("contact.creation", cid),
        fresh.event(
            "contact.propertyChange", cid, property_name="email", property_value="new@example.com"
        ),
        fresh.event("contact.merge", cid, merged_object_ids=[cid + 1], primary_object_id=cid),
    ]
    with receiver.serve() as server:
        url = server.url + "/webhooks/hubspot/main?portal=1"
        response = fresh.deliver(url, events, version=version)
    assert response.status_code == 200
    request = receiver.requests[0]
    body, secret = request.body, fresh.client_secret.encode()
    if version == "v1":
        assert request.headers["x-hubspot-signature-version"] == "v1"
        assert request.headers["x-hubspot-signature"] == hashlib.sha256(secret + body).hexdigest()
    elif version == "v2":
        assert request.headers["x-hubspot-signature-version"] == "v2"
        expected = hashlib.sha256(secret + b"POST" + request.url.encode() + body).hexdigest()
        assert request.headers["x-hubspot-signature"] == expected
    else:
        stamp = request.headers["x-hubspot-request-timestamp"]
        assert abs(int(stamp) - time.time() * 1000) < 60_000
        message = b"POST" + request.url.encode() + body + stamp.encode()
        expected = base64.b64encode(hmac.new(secret, message, hashlib.sha256).digest()).decode()
        assert request.headers["x-hubspot-signature-v3"] == expected
    sent = json.loads(body)
    assert [e["subscriptionType"] for e in sent] == [
        "contact.creation",
        "contact.propertyChange",
        "contact.merge",
    ]
    for event in sent:
        assert {
            "eventId",
            "subscriptionId",
            "portalId",
            "appId",
            "occurredAt",
            "attemptNumber",
            "objectId",
            "changeSource",
        } <= set(event)
    assert sent[1]["propertyName"] == "email" and sent[1]["propertyValue"] == "new@example.com"
    assert sent[2]["mergedObjectIds"] == [cid + 1] and sent[2]["primaryObjectId"] == cid


def test_old_timestamp_and_wrong_secret_can_be_sent(fresh: FakeHubSpot) -> None:
    receiver = RecordingReceiver()
    with receiver.serve() as server:
        fresh.deliver(server.url + "/h", [], timestamp=1_000, client_secret="wrong")
    assert receiver.requests[0].headers["x-hubspot-request-timestamp"] == "1000"


# --- auth and rate limits --------------------------------------------------------------------


def test_bearer_token_required(portal: FakeHubSpot) -> None:
    missing = httpx.get(portal.url + C)
    wrong = httpx.get(portal.url + C, headers={"Authorization": "Bearer nope"})
    assert missing.status_code == wrong.status_code == 401
    assert wrong.json()["category"] == "INVALID_AUTHENTICATION"


def test_rolling_window_headers_and_429() -> None:
    fake = FakeHubSpot(max_per_interval=3, daily_limit=1000)
    with fake, client(fake) as http:
        answers = [http.get(C) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-HubSpot-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    first = answers[0].headers
    assert first["X-HubSpot-RateLimit-Max"] == "3"
    assert first["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert first["X-HubSpot-RateLimit-Daily"] == "1000"
    assert first["X-HubSpot-RateLimit-Daily-Remaining"] == "999"
    body = answers[3].json()
    assert body["status"] == "error" and body["message"] == "You have reached your secondly limit."
    assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert fake.counters.throttled == 1


def test_daily_limit() -> None:
    fake = FakeHubSpot(daily_limit=2)
    with fake, client(fake) as http:
        answers = [http.get(C) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["policyName"] == "DAILY"


def test_search_has_its_own_per_second_limit_and_no_rate_headers() -> None:
    fake = FakeHubSpot(search_per_second=4)
    fake.seed(5)
    with fake, client(fake) as http:
        answers = [http.post(C + "/search", json={"limit": 1}) for _ in range(10)]
    statuses = [a.status_code for a in answers]
    assert statuses[:4] == [200] * 4 and 429 in statuses
    limited = next(a for a in answers if a.status_code == 429)
    assert limited.json()["errorType"] == "RATE_LIMIT"
    assert not [h for h in answers[0].headers if h.lower().startswith("x-hubspot-ratelimit")]


# --- contacts --------------------------------------------------------------------------------


def test_list_contacts_pages_to_the_end(portal: FakeHubSpot) -> None:
    seen: list[str] = []
    with client(portal) as http:
        params: dict[str, str] = {"limit": "100", "properties": "email,phone"}
        while True:
            page = http.get(C, params=params).json()
            seen += [c["id"] for c in page["results"]]
            assert set(page["results"][0]["properties"]) == {"email", "phone"}
            nxt = page.get("paging", {}).get("next")
            if not nxt:
                break
            assert nxt["link"].startswith(portal.url) and f"after={nxt['after']}" in nxt["link"]
            params["after"] = nxt["after"]
        too_big = http.get(C, params={"limit": 101})
    assert seen == [str(i) for i in portal.contact_ids] and len(seen) == 250
    assert too_big.status_code == 400


def test_search_filters_sorts_and_limits(portal: FakeHubSpot) -> None:
    some = portal.contact(portal.contact_ids[7])
    cutoff = portal.contact(portal.contact_ids[3])["properties"]["lastmodifieddate"]
    cutoff_ms = str(int(datetime.fromisoformat(cutoff.replace("Z", "+00:00")).timestamp() * 1000))
    with client(portal) as http:
        by_email = http.post(
            C + "/search",
            json={
                "filterGroups": [
                    {
                        "filters": [
                            {
                                "propertyName": "email",
                                "operator": "EQ",
                                "value": some["properties"]["email"].upper(),
                            }
                        ]
                    }
                ]
            },
        )
        since = http.post(
            C + "/search",
            json={
                "filterGroups": [
                    {
                        "filters": [
                            {
                                "propertyName": "lastmodifieddate",
                                "operator": "GTE",
                                "value": cutoff_ms,
                            }
                        ]
                    }
                ],
                "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                "properties": ["email", "lastmodifieddate"],
                "limit": 200,
            },
        )
        iso_since = http.post(
            C + "/search",
            json={
                "filterGroups": [
                    {
                        "filters": [
                            {"propertyName": "lastmodifieddate", "operator": "GTE", "value": cutoff}
                        ]
                    }
                ],
                "limit": 0,
            },
        )
        too_big = http.post(C + "/search", json={"limit": 201})
    assert [c["id"] for c in by_email.json()["results"]] == [some["id"]]
    stamps = [c["properties"]["lastmodifieddate"] for c in since.json()["results"]]
    assert stamps == sorted(stamps) and all(s >= cutoff for s in stamps)
    assert since.json()["total"] == iso_since.json()["total"]
    assert len(stamps) == min(since.json()["total"], 200) and len(stamps) > 1
    assert too_big.status_code == 400


def test_search_cannot_page_past_10000_results() -> None:
    fake = FakeHubSpot(rate_limit=False)
    fake.seed(10_050, seed=1)
    with fake, client(fake) as http:
        near_end = http.post(C + "/search", json={"limit": 200, "after": "9800"})
        beyond = http.post(C + "/search", json={"limit": 100, "after": "10000"})
    assert near_end.status_code == 200
    assert near_end.json()["total"] == 10_050
    assert len(near_end.json()["results"]) == 200
    assert "paging" not in near_end.json()
    assert beyond.status_code == 400 and beyond.json()["status"] == "error"


def test_batch_upsert_creates_then_updates_idempotently(fresh: FakeHubSpot) -> None:
    inputs = [
        {
            "idProperty": "email",
            "id": f"buyer{i}@example.com",
            "properties": {"firstname": f"B{i}", "crmhub_rfm_segment": "Champions"},
        }
        for i in range(3)
    ]
    with client(fresh) as http:
        first = http.post(C + "/batch/upsert", json={"inputs": inputs})
        fresh.clock.advance(minutes=5)
        second = http.post(C + "/batch/upsert", json={"inputs": inputs})
    assert first.status_code == second.status_code == 200
    assert first.json()["status"] == "COMPLETE"
    assert [r["new"] for r in first.json()["results"]] == [True] * 3
    assert [r["new"] for r in second.json()["results"]] == [False] * 3
    assert [r["id"] for r in first.json()["results"]] == [r["id"] for r in second.json()["results"]]
    before = [r["properties"]["lastmodifieddate"] for r in first.json()["results"]]
    after = [r["properties"]["lastmodifieddate"] for r in second.json()["results"]]
    assert before == after  # nothing changed, so nothing was modified
    assert first.json()["results"][0]["properties"]["email"] == "buyer0@example.com"
    assert fresh.counters["contacts.batch_upsert"] == 2


def test_batch_upsert_partial_errors_give_207(fresh: FakeHubSpot) -> None:
    fresh.fail_email("Blocked@Example.com")
    inputs = [
        {"idProperty": "email", "id": "ok@example.com", "properties": {"lastname": "Ok"}},
        {"idProperty": "email", "id": "not-an-email", "properties": {}},
        {"idProperty": "email", "id": "blocked@example.com", "properties": {}},
        {
            "idProperty": "email",
            "id": "unknown@example.com",
            "properties": {"favourite_colour": "red"},
        },
    ]
    with client(fresh) as http:
        response = http.post(C + "/batch/upsert", json={"inputs": inputs})
    assert response.status_code == 207
    body = response.json()
    assert body["numErrors"] == 3 and len(body["errors"]) == 3
    assert [r["properties"]["email"] for r in body["results"]] == ["ok@example.com"]
    failed = [e["context"]["ids"][0] for e in body["errors"]]
    assert failed == ["not-an-email", "blocked@example.com", "unknown@example.com"]
    assert fresh.find_contact("blocked@example.com") is None


def test_batch_caps_and_duplicates(fresh: FakeHubSpot) -> None:
    many = [
        {"idProperty": "email", "id": f"u{i}@example.com", "properties": {}} for i in range(101)
    ]
    with client(fresh) as http:
        too_many = http.post(C + "/batch/upsert", json={"inputs": many})
        exactly = http.post(C + "/batch/upsert", json={"inputs": many[:100]})
        dupes = http.post(
            C + "/batch/upsert", json={"inputs": [many[0], {**many[0], "id": "U0@EXAMPLE.COM"}]}
        )
        reads = http.post(C + "/batch/read", json={"inputs": [{"id": str(i)} for i in range(101)]})
    assert too_many.status_code == 400 and too_many.json()["status"] == "error"
    assert exactly.status_code == 200 and len(exactly.json()["results"]) == 100
    assert dupes.status_code == 400
    assert reads.status_code == 400


def test_batch_read_archive_and_single_contact_calls(fresh: FakeHubSpot) -> None:
    a, b = fresh.contact_ids[:2]
    with client(fresh) as http:
        read = http.post(
            C + "/batch/read",
            json={"inputs": [{"id": str(a)}, {"id": "999999"}], "properties": ["email"]},
        )
        patched = http.patch(f"{C}/{a}", json={"properties": {"lifecyclestage": "customer"}})
        by_email = http.get(
            f"{C}/{fresh.contact(a)['properties']['email']}", params={"idProperty": "email"}
        )
        bad_prop = http.patch(f"{C}/{a}", json={"properties": {"nope": "1"}})
        archived = http.post(C + "/batch/archive", json={"inputs": [{"id": str(b)}]})
        gone = http.get(f"{C}/{b}")
        binned = http.get(C, params={"archived": "true"})
        deleted = http.delete(f"{C}/{a}")
    assert read.status_code == 207
    assert [r["id"] for r in read.json()["results"]] == [str(a)]
    assert read.json()["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert patched.json()["properties"]["lifecyclestage"] == "customer"
    assert by_email.json()["id"] == str(a)
    assert bad_prop.status_code == 400
    assert archived.status_code == 204 and gone.status_code == 404
    assert [c["id"] for c in binned.json()["results"]] == [str(b)] and binned.json()["results"][0][
        "archived"
    ]
    assert deleted.status_code == 204


def test_batch_update_by_id_and_gdpr_delete(fresh: FakeHubSpot) -> None:
    a, b, c = fresh.contact_ids[:3]
    b_email = fresh.contact(b)["properties"]["email"]
    lst = fresh.create_list("Members")
    with client(fresh) as http:
        http.put(f"{L}/{lst['listId']}/memberships/add", json=[str(a), str(b)])
        updated = http.post(
            C + "/batch/update",
            json={"inputs": [{"id": str(a), "properties": {"crmhub_segments": "vip"}},
                             {"id": "999999", "properties": {"crmhub_segments": "vip"}}]},
        )
        by_email = http.post(
            C + "/batch/update",
            json={"inputs": [{"idProperty": "email", "id": b_email, "properties": {"city": "X"}}]},
        )
        purged = http.post(C + "/gdpr-delete", json={"objectId": str(a)})
        purged_by_email = http.post(C + "/gdpr-delete", json={"objectId": b_email, "idProperty": "email"})
        unknown_email = http.post(C + "/gdpr-delete", json={"objectId": "nobody@x.io", "idProperty": "email"})
        unknown_id = http.post(C + "/gdpr-delete", json={"objectId": "999999"})
        binned = http.get(C, params={"archived": "true"})
    assert updated.status_code == 207
    assert [r["properties"]["crmhub_segments"] for r in updated.json()["results"]] == ["vip"]
    assert updated.json()["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert "non-unique" in by_email.json()["errors"][0]["message"]
    assert purged.status_code == purged_by_email.status_code == unknown_email.status_code == 204
    assert unknown_id.status_code == 404
    assert fresh.contact_ids[0] == c and a not in fresh.contact_ids and b not in fresh.contact_ids
    assert binned.json()["results"] == [] and fresh.list_members(lst["listId"]) == []
    assert "nobody@x.io" in fresh.contacts.blocklist


def test_merge_keeps_the_primary_and_redirects_the_merged_id(fresh: FakeHubSpot) -> None:
    primary, merged = fresh.contact_ids[:2]
    merged_email = fresh.contact(merged)["properties"]["email"]
    survivor = fresh.merge(primary, merged)
    assert survivor["id"] == str(primary)
    assert merged_email in survivor["properties"]["hs_additional_emails"]
    assert survivor["properties"]["hs_merged_object_ids"] == str(merged)
    with client(fresh) as http:
        followed = http.get(f"{C}/{merged}")
        search = http.post(
            C + "/search",
            json={
                "filterGroups": [
                    {
                        "filters": [
                            {"propertyName": "email", "operator": "EQ", "value": merged_email}
                        ]
                    }
                ]
            },
        )
    assert followed.json()["id"] == str(primary)
    assert [c["id"] for c in search.json()["results"]] == [str(primary)]
    assert merged not in fresh.contact_ids


# --- lists -----------------------------------------------------------------------------------


def test_lists_and_memberships(fresh: FakeHubSpot) -> None:
    ids = [str(i) for i in fresh.contact_ids]
    with client(fresh) as http:
        created = http.post(
            L + "/", json={"name": "Champions", "objectTypeId": "0-1", "processingType": "MANUAL"}
        )
        list_id = created.json()["list"]["listId"]
        found = http.get(f"{L}/object-type-id/0-1/name/Champions")
        missing = http.get(f"{L}/object-type-id/0-1/name/Nobody")
        changed = http.put(
            f"{L}/{list_id}/memberships/add-and-remove",
            json={"recordIdsToAdd": ids[:12] + ["424242"], "recordIdsToRemove": []},
        )
        removed = http.put(
            f"{L}/{list_id}/memberships/add-and-remove",
            json={"recordIdsToAdd": [], "recordIdsToRemove": ids[:2]},
        )
        added = http.put(f"{L}/{list_id}/memberships/add", json=ids[12:14])
        dropped = http.put(f"{L}/{list_id}/memberships/remove", json=ids[13:14])
        pages, after = [], None
        while True:
            page = http.get(
                f"{L}/{list_id}/memberships",
                params={"limit": 5, **({"after": after} if after else {})},
            )
            pages.append([m["recordId"] for m in page.json()["results"]])
            after = page.json().get("paging", {}).get("next", {}).get("after")
            if not after:
                break
        fetched = http.get(f"{L}/{list_id}")
        duplicate = http.post(L + "/", json={"name": "Champions", "processingType": "MANUAL"})
    assert created.status_code == 200
    assert created.json()["list"]["processingType"] == "MANUAL" and list_id.isdigit()
    assert found.json()["list"]["listId"] == list_id
    assert missing.status_code == 404
    assert changed.json() == {
        "recordIdsMissing": ["424242"],
        "recordIdsRemoved": [],
        "recordsIdsAdded": ids[:12],
    }
    assert removed.json()["recordIdsRemoved"] == ids[:2]
    assert added.json()["recordsIdsAdded"] == ids[12:14]
    assert dropped.json()["recordIdsRemoved"] == ids[13:14]
    members = [m for p in pages for m in p]
    assert members == ids[2:13] and len(pages) == 3
    assert fetched.json()["list"]["size"] == 11
    assert duplicate.status_code == 400
    assert fresh.counters["lists.memberships_add_and_remove"] == 2
    assert fresh.counters["lists.memberships"] == 3


def test_dynamic_lists_refuse_manual_membership_changes(fresh: FakeHubSpot) -> None:
    with client(fresh) as http:
        dynamic = http.post(
            L + "/", json={"name": "Auto", "objectTypeId": "0-1", "processingType": "DYNAMIC"}
        )
        list_id = dynamic.json()["list"]["listId"]
        refused = http.put(
            f"{L}/{list_id}/memberships/add-and-remove",
            json={"recordIdsToAdd": [str(fresh.contact_ids[0])], "recordIdsToRemove": []},
        )
        snapshot = http.post(
            L + "/", json={"name": "Snap", "objectTypeId": "0-1", "processingType": "SNAPSHOT"}
        )
        allowed = http.put(
            f"{L}/{snapshot.json()['list']['listId']}/memberships/add",
            json=[str(fresh.contact_ids[0])],
        )
    assert refused.status_code == 400
    assert allowed.status_code == 200 and allowed.json()["recordsIdsAdded"]


def test_injected_faults(fresh: FakeHubSpot) -> None:
    fresh.faults.configure(every=2, statuses=(503,))
    with client(fresh) as http:
        statuses = [http.get(C).status_code for _ in range(4)]
    assert statuses == [200, 503, 200, 503]


def test_unknown_properties_are_refused_unless_defined_or_lenient() -> None:
    strict = FakeHubSpot(rate_limit=False)
    lenient = FakeHubSpot(rate_limit=False, strict_properties=False)
    item = {"idProperty": "email", "id": "x@example.com", "properties": {"loyalty_tier": "gold"}}
    with strict, lenient, client(strict) as s_http, client(lenient) as l_http:
        refused = s_http.post(C + "/batch/upsert", json={"inputs": [item]})
        strict.define_property("loyalty_tier")
        defined = s_http.post(C + "/batch/upsert", json={"inputs": [item]})
        accepted = l_http.post(C + "/batch/upsert", json={"inputs": [item]})
    assert refused.status_code == 207
    assert refused.json()["errors"][0]["errors"][0]["error"] == "PROPERTY_DOESNT_EXIST"
    assert defined.status_code == accepted.status_code == 200
