"""Syncing a fake WooCommerce site: full and incremental runs, GMT filters, guests,
new registrations, trash and deletions, resuming, and the limits of the customer strategy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crmhub.core.errors import ConfigError
from crmhub.core.models import Order, SourceIdentity
from crmhub.core.records import CustomerRecord, OrderRecord
from tests.plugins.woocommerce.conftest import START
from tests.plugins.woocommerce.support import Runner, count, customer, identity, stored_order

INSTANCE = "woocommerce.main"


def gmt(raw: dict, field: str) -> datetime:
    return datetime.fromisoformat(raw[field + "_gmt"]).replace(tzinfo=UTC)


def test_first_sync_reads_every_customer_and_order(runner, woo, spy):
    done = runner.sync()

    assert sorted(map(int, done.ids(CustomerRecord))) == woo.customer_ids  # every role
    assert sorted(map(int, done.ids(OrderRecord))) == woo.order_ids
    assert count(runner.hub, Order, Order.instance == INSTANCE) == len(woo.order_ids)
    assert all(q["per_page"] == "100" for q in spy.lists("orders") + spy.lists("customers"))
    assert all("modified_after" not in q for q in spy.lists("orders"))
    # the first run is a full one: customers come from their own pass, not fetched per order
    assert not [q for q in spy.lists("customers") if "include" in q]


def test_dates_are_read_from_the_gmt_fields(runner, woo):
    runner.sync()
    some = woo.order(woo.order_ids[10])
    row = stored_order(runner.hub, some["id"])
    assert row.placed_at == gmt(some, "date_created")
    assert row.source_updated_at == gmt(some, "date_modified")
    assert some["date_created"] != some["date_created_gmt"]  # the site is not on UTC


def test_guest_orders_become_customers_by_billing_email(runner, woo):
    guest = next(woo.order(i) for i in woo.order_ids if woo.order(i)["customer_id"] == 0)
    runner.sync()
    email = guest["billing"]["email"].lower()
    found = identity(runner.hub, f"guest:{email}")
    assert found is not None and found.kind == "guest"
    assert customer(runner.hub, f"guest:{email}").email == email
    assert stored_order(runner.hub, guest["id"]).customer_id == found.customer_id


def test_incremental_run_filters_by_gmt_modified_after_with_lookback(runner, woo, clock, spy):
    # Given an order changed an hour before the first sync
    early = woo.order_ids[5]
    clock.set(START - timedelta(hours=1))
    woo.update_order(early, customer_note="call first")
    clock.set(START)
    runner.sync()
    # When an order changes and a registered customer orders an hour later
    clock.advance(hours=1)
    changed = woo.update_order(woo.order_ids[20], status="completed")
    buyer = woo.customer_ids[7]
    placed = woo.add_order(buyer)
    spy.requests.clear()
    done = runner.sync("orders")

    # Then the run asks for changes since the last run's newest change minus the lookback, in GMT
    since = runner.state("orders").since
    assert spy.lists("orders")[0].get("modified_after") == "2025-07-01T09:50:00"
    assert all(q.get("dates_are_gmt") == "true" for q in spy.lists("orders"))
    read = set(done.ids(OrderRecord))
    assert {str(changed["id"]), str(placed["id"])} <= read
    assert str(early) not in read  # it would be, if the bound were taken as Berlin time
    assert all(
        gmt(woo.order(int(i)), "date_modified") >= START - timedelta(minutes=10) for i in read
    )
    assert since == START + timedelta(hours=1)
    assert stored_order(runner.hub, changed["id"]).status == "fulfilled"


def test_incremental_run_fetches_the_customers_its_orders_point_at(runner, woo, clock, spy):
    runner.sync()
    clock.advance(hours=1)
    buyer = woo.customer_ids[3]
    woo.update_customer(buyer, first_name="Renamed")  # no webhook: only the order tells us
    woo.add_order(buyer)
    woo.add_order(0)  # a guest: nothing to fetch
    spy.requests.clear()
    done = runner.sync("orders")

    includes = [q["include"] for q in spy.lists("customers")]
    assert len(includes) == 1  # one request for up to 100 ids
    referenced = {woo.order(int(i))["customer_id"] for i in done.ids(OrderRecord)} - {0}
    assert includes[0].split(",") == [str(i) for i in sorted(referenced)]
    assert buyer in referenced and str(buyer) in done.ids(CustomerRecord)
    assert customer(runner.hub, buyer).first_name == "Renamed"


def test_new_registrations_are_read_newest_first_until_a_known_id(runner, woo, clock, spy):
    runner.sync()
    clock.advance(hours=2)
    new = [woo.add_customer()["id"] for _ in range(3)]
    spy.requests.clear()
    done = runner.sync("customers")

    assert done.ids(CustomerRecord) == [str(i) for i in sorted(new, reverse=True)]
    assert [(q["orderby"], q["order"]) for q in spy.lists("customers")] == [("id", "desc")]
    assert runner.state("customers").max_id == max(new)


def test_profile_edits_without_an_order_wait_for_the_periodic_full_pass(runner, woo, clock):
    runner.sync()
    quiet = woo.customer_ids[5]
    clock.advance(hours=1)
    woo.update_customer(quiet, last_name="Edited")
    runner.sync()
    assert customer(runner.hub, quiet).last_name != "Edited"  # no webhook, no order

    clock.advance(days=1)
    runner.sync()
    assert customer(runner.hub, quiet).last_name == "Edited"
    assert runner.state("customers").last_full_at == START + timedelta(days=1, hours=1)


def test_trashed_orders_are_deleted_and_restored_ones_come_back(runner, woo, clock):
    runner.sync()
    target = woo.order_ids[30]
    clock.advance(minutes=30)
    woo.delete_order(target)
    runner.sync("orders")
    assert stored_order(runner.hub, target).deleted_at is not None

    clock.advance(minutes=30)
    woo.update_order(target, status="processing")
    runner.sync("orders")
    assert stored_order(runner.hub, target).deleted_at is None
    assert stored_order(runner.hub, target).status == "paid"


def test_a_full_pass_marks_what_the_site_deleted_for_good(runner, woo, clock):
    runner.sync()
    gone_order, gone_customer = woo.order_ids[3], woo.customer_ids[4]
    guest = next(woo.order(i) for i in woo.order_ids if woo.order(i)["customer_id"] == 0)
    woo.delete_order(gone_order, force=True)
    woo.delete_customer(gone_customer)
    clock.advance(hours=1)
    runner.sync(full=True)

    assert stored_order(runner.hub, gone_order).deleted_at is not None
    assert stored_order(runner.hub, gone_order).total > 0  # the stored order, marked deleted
    assert identity(runner.hub, gone_customer).deleted_at is not None
    assert identity(runner.hub, f"guest:{guest['billing']['email'].lower()}").deleted_at is None
    live = count(runner.hub, Order, Order.instance == INSTANCE, Order.deleted_at.is_(None))
    assert live == len(woo.order_ids)
    assert count(runner.hub, SourceIdentity, SourceIdentity.deleted_at.is_not(None)) == 1


def test_an_interrupted_run_resumes_where_it_stopped_without_loss(woo_hub, woo, clock, spy):
    runner = Runner(woo_hub(page_size=20, commit_every=1))
    runner.sync("customers")
    first = runner.sync("orders", stop_after=3)
    assert first.interrupted and len(first.ids(OrderRecord)) == 20 + 19 + 19  # one overlaps
    # meanwhile: orders already read are deleted for good (later ones move forward), new ones come
    for order_id in woo.order_ids[:5]:
        woo.delete_order(order_id, force=True)
    added = [woo.add_order(0)["id"] for _ in range(3)]
    spy.requests.clear()
    rest = runner.sync("orders")

    read = first.ids(OrderRecord) + rest.ids(OrderRecord)
    assert set(map(int, read)) >= set(woo.order_ids)  # nothing skipped
    assert set(added) <= set(map(int, read))
    assert len(read) == len(set(read))  # and nothing read twice
    assert "offset" in spy.lists("orders")[0] and spy.lists("orders")[0]["offset"] != "0"


def test_a_payload_that_does_not_map_is_reported_and_the_run_goes_on(runner, woo, clock):
    runner.sync()
    clock.advance(minutes=20)
    bad, good = woo.order_ids[1], woo.order_ids[2]
    woo.update_order(bad, currency="")
    woo.update_order(good, status="cancelled")
    done = runner.sync("orders")
    errors = [e for meta in done.metas for e in meta.get("errors", [])]
    assert [e["external_id"] for e in errors] == [str(bad)]
    assert stored_order(runner.hub, good).status == "cancelled"


def test_expected_totals_come_from_x_wp_total(runner, woo):
    done = runner.sync("orders")
    assert done.expected_total == len(woo.order_ids)
    assert runner.stream("orders").expected_total() == len(woo.order_ids)
    assert runner.stream("customers").expected_total() == len(woo.customer_ids)


def test_page_size_above_100_is_refused(woo_hub):
    with pytest.raises(ConfigError, match="page_size"):
        woo_hub(page_size=101)


def test_requests_are_committed_together_in_batches(woo_hub, woo):
    runner = Runner(woo_hub(page_size=20, commit_every=50))
    done = runner.sync("orders")
    assert sorted(map(int, done.ids(OrderRecord))) == woo.order_ids
    assert done.sizes == [20 + 19 + 19, 19 * 3, 19 + 16]  # one request overlaps the last
