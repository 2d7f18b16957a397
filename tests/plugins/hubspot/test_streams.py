"""The contacts stream against the fake HubSpot: full and incremental runs, the search cap,
deletions, consent and identity resolution."""

from __future__ import annotations

from collections.abc import Callable

from crmhub.core.hub import Hub
from crmhub.core.models import Consent, Customer, SourceIdentity
from crmhub.core.records import CustomerRecord
from crmhub.core.testing.fake_controls import Clock
from crmhub.plugins.hubspot.fake import FakeHubSpot
from sqlalchemy import func, select

from .conftest import INSTANCE, START, add_customers, run_sync


def ids_read(pages: list) -> list[str]:
    return [r.external_id for page in pages for r in page.records if not r.deleted]


def live_identities(hub: Hub) -> int:
    with hub.transaction() as session:
        return int(session.execute(select(func.count()).select_from(SourceIdentity).where(
            SourceIdentity.instance == INSTANCE, SourceIdentity.deleted_at.is_(None))).scalar_one())


def test_a_full_run_lists_live_and_archived_contacts_and_reconciles(
    make_hubspot_hub: Callable[..., Hub], fake: FakeHubSpot
) -> None:
    fake.seed(230, seed=4)
    archived = fake.contact_ids[:3]
    for contact_id in archived:
        fake.archive_contact(contact_id)
    primary, merged = fake.contact_ids[10], fake.contact_ids[11]
    hub = make_hubspot_hub()
    run_sync(hub, full=True)  # the contacts exist in the hub before HubSpot merges two of them
    fake.merge(primary, merged)

    state, pages = run_sync(hub, full=True)

    live = len(fake.contact_ids)
    assert live == 226
    assert pages[0].expected_total == live and all(p.expected_total is None for p in pages[1:])
    assert sorted(map(int, ids_read(pages))) == fake.contact_ids
    deleted = {r.external_id for p in pages for r in p.records if r.deleted}
    assert deleted == {str(i) for i in archived} | {str(merged)}
    assert live_identities(hub) == live  # what the sync runner reconciles against the expected total
    assert state is not None and state.since == START and state.resume is None


def test_the_first_run_is_a_full_run_and_later_runs_search_what_changed(
    make_hubspot_hub: Callable[..., Hub], fake: FakeHubSpot, clock: Clock
) -> None:
    fake.seed(120, seed=5)
    hub = make_hubspot_hub()
    state, _ = run_sync(hub)
    assert fake.counters["contacts.list"] == 3  # two live pages, one archived page
    clock.advance(hours=2)
    changed = fake.contact_ids[5:12]
    for contact_id in changed:
        fake.update_contact(contact_id, firstname=f"New{contact_id}")
        clock.advance(seconds=1)
    new = fake.add_contact({"email": "new@example.com"})
    run_started = clock.advance(minutes=1)

    state, pages = run_sync(hub, state)

    assert sorted(ids_read(pages)) == sorted([str(i) for i in changed] + [new["id"]])
    assert fake.counters["contacts.list"] == 3 and fake.counters["contacts.search"] == 2  # total + one page
    assert state is not None and state.since == run_started
    with hub.transaction() as session:
        names = set(session.execute(select(Customer.first_name)).scalars())
    assert {f"New{i}" for i in changed} <= names


def test_an_incremental_window_over_the_search_cap_loses_nothing(
    make_hubspot_hub: Callable[..., Hub], fake: FakeHubSpot, clock: Clock
) -> None:
    """Search reaches only 10,000 results per query: 10,250 contacts modified in one window
    are read with a fresh query per page, never an offset past the cap."""
    hub = make_hubspot_hub()
    state, _ = run_sync(hub)  # an empty portal: the first run is a full run
    for n in range(10_250):
        fake.add_contact({"email": f"c{n}@bulk.example"})
        clock.advance(seconds=0.05)
    searches_before = fake.counters["contacts.search"]

    state, pages = run_sync(hub, state)

    read = ids_read(pages)
    assert len(read) == len(set(read)) == 10_250
    assert live_identities(hub) == 10_250
    assert fake.counters["contacts.search"] - searches_before == 52  # 51 full pages and a short one


def test_contacts_modified_at_the_same_instant_are_all_read(
    make_hubspot_hub: Callable[..., Hub], fake: FakeHubSpot, clock: Clock
) -> None:
    """A bulk import stamps hundreds of contacts with one time: a full page at one instant
    is read on its own, by id, then the run goes on after it."""
    hub = make_hubspot_hub()
    state, _ = run_sync(hub)
    clock.advance(minutes=1)
    same = [fake.add_contact({"email": f"i{n}@import.example"})["id"] for n in range(450)]
    clock.advance(seconds=1)
    later = [fake.add_contact({"email": f"l{n}@later.example"})["id"] for n in range(3)]
    clock.advance(seconds=1)

    state, pages = run_sync(hub, state)

    assert set(ids_read(pages)) == set(same) | set(later)
    assert live_identities(hub) == 453


def test_an_interrupted_run_resumes_where_it_stopped(
    make_hubspot_hub: Callable[..., Hub], fake: FakeHubSpot, clock: Clock
) -> None:
    hub = make_hubspot_hub()
    state, _ = run_sync(hub)
    clock.advance(minutes=5)
    for n in range(500):
        fake.add_contact({"email": f"r{n}@resume.example"})
        clock.advance(seconds=1)
    clock.advance(seconds=1)
    state, first = run_sync(hub, state, pages=1)
    assert state is not None and state.resume is not None
    fake.update_contact(int(ids_read(first)[0]), firstname="Touched")  # moves after the run's end

    state, rest = run_sync(hub, state)

    assert set(ids_read(first)) | set(ids_read(rest)) == {str(i) for i in fake.contact_ids}
    assert live_identities(hub) == 500
    clock.advance(seconds=1)
    _, again = run_sync(hub, state)
    assert ids_read(first)[0] in ids_read(again)  # the contact touched mid-run is read by the next run


def test_a_shopper_seen_in_a_shop_and_in_hubspot_is_one_customer(
    make_hubspot_hub: Callable[..., Hub], fake: FakeHubSpot
) -> None:
    hub = make_hubspot_hub()
    shop = add_customers(hub, ["dana@example.com"], source="shop.main")
    fake.add_contact({"email": "Dana@Example.COM", "firstname": "Dana", "phone": "+1 415 555 0100",
                      "lifecyclestage": "customer"})
    run_sync(hub)
    with hub.transaction() as session:
        customers = session.execute(select(Customer)).scalars().all()
        identities = session.execute(select(SourceIdentity.instance, SourceIdentity.customer_id)).all()
    assert [c.id for c in customers] == [shop["dana@example.com"]]
    assert sorted(identities) == [(INSTANCE, customers[0].id), ("shop.main", customers[0].id)]
    assert customers[0].phone == "+14155550100" and customers[0].attributes["lifecycle_stage"] == "customer"


def test_an_email_opt_out_withdraws_consent_and_no_opt_out_grants_nothing(
    make_hubspot_hub: Callable[..., Hub], fake: FakeHubSpot
) -> None:
    hub = make_hubspot_hub()
    add_customers(hub, ["kept@example.com", "out@example.com"], consent=True)
    kept = fake.add_contact({"email": "kept@example.com", "hs_email_optout": "false"})
    out = fake.add_contact({"email": "out@example.com", "hs_email_optout": "true"})
    fake.add_contact({"email": "quiet@example.com", "hs_email_optout": "false"})
    run_sync(hub)
    with hub.transaction() as session:
        consent = {email: (granted, source) for email, granted, source in session.execute(
            select(Customer.email, Consent.granted, Consent.source).join(Consent, Consent.customer_id == Customer.id))}
    assert consent == {"kept@example.com": (True, "import.default"), "out@example.com": (False, INSTANCE)}
    assert kept["id"] != out["id"]


def test_records_carry_the_contacts_modification_time(make_hubspot_hub: Callable[..., Hub], fake: FakeHubSpot) -> None:
    hub = make_hubspot_hub()
    fake.add_contact({"email": "t@example.com", "firstname": " ", "lastname": "Tee"})
    _, pages = run_sync(hub)
    [record] = [r for p in pages for r in p.records]
    assert isinstance(record, CustomerRecord)
    assert record.source_updated_at == START and record.created_at == START
    assert record.first_name is None and record.last_name == "Tee"
