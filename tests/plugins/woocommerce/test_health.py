"""Webhook health: WooCommerce disables a webhook after failed deliveries and never retries.
The plugin reports it, re-enables it on the next sync when configured to, and that sync
reads what the lost deliveries carried."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from crmhub.core.records import CustomerRecord
from crmhub.plugins.woocommerce.fake import FakeWooCommerce
from tests.plugins.woocommerce.conftest import SECRET, START, hook_url
from tests.plugins.woocommerce.support import Runner, customer, intake, stored_order

TOPICS = [f"{r}.{e}" for r in ("customer", "order") for e in ("created", "updated", "deleted")]


@pytest.fixture
def hooks(woo, receiver):
    return {t: woo.create_webhook(t, hook_url(receiver), secret=SECRET, ping=True) for t in TOPICS}


def health(hub):
    return hub.plugins.instance_health(hub, hub.instance("woocommerce.main"))


def break_webhook(woo, receiver, hook, payloads):
    """The hub answers 500 until WooCommerce gives up on ``hook`` (7th failure)."""
    receiver[0].status = 500
    for payload in payloads:
        woo.deliver(hook.id, None, payload)
    receiver[0].status = 200


def test_healthy_subscriptions_report_nothing(runner, hooks):
    assert health(runner.hub) == []


def test_a_disabled_webhook_is_reported_reenabled_and_the_gap_filled(
    runner, woo, receiver, hooks, clock, spy
):
    # Given a synced hub with working webhooks
    runner.sync()
    clock.advance(hours=1)
    # When the hub fails while customers edit their profiles and an order is deleted for good
    edited = woo.customer_ids[2:9]
    payloads = [woo.update_customer(cid, last_name=f"Edited{cid}") for cid in edited]
    break_webhook(woo, receiver, hooks["customer.updated"], payloads)
    gone = woo.order_ids[6]
    woo.delete_order(gone, force=True)
    break_webhook(woo, receiver, hooks["order.deleted"], [{"id": gone}] * 7)
    assert woo.webhook(hooks["customer.updated"].id).status == "disabled"
    assert woo.webhook(hooks["order.deleted"].id).status == "disabled"

    # Then crmhub plugins / the API report it
    problems = health(runner.hub)
    assert [p["level"] for p in problems] == ["error", "error"]
    assert "customer.updated) is disabled" in problems[0]["message"]
    assert "the next sync re-enables it" in problems[0]["message"]

    # And the next (incremental) sync re-enables both and reads what was lost
    clock.advance(minutes=30)
    spy.requests.clear()
    done = runner.sync()
    assert woo.webhook(hooks["customer.updated"].id).status == "active"
    assert woo.webhook(hooks["order.deleted"].id).status == "active"
    assert all(customer(runner.hub, cid).last_name == f"Edited{cid}" for cid in edited)
    assert len(done.ids(CustomerRecord)) >= len(woo.customer_ids)  # a full customer pass
    assert stored_order(runner.hub, gone).deleted_at is not None  # found by the id sweep
    assert any(q.get("_fields") == "id" for q in spy.lists("orders"))
    assert any(m.get("webhooks_reenabled") for m in done.metas)
    assert health(runner.hub) == []

    # And once healthy, the following sync is incremental again
    clock.advance(minutes=30)
    spy.requests.clear()
    runner.sync()
    assert [q.get("order") for q in spy.lists("customers") if "include" not in q] == ["desc"]
    assert not any(q.get("_fields") for q in spy.lists("orders"))


def test_the_orders_cursor_goes_back_to_the_last_healthy_check(
    runner, woo, receiver, hooks, clock, spy
):
    runner.sync()  # all webhooks seen active at START
    clock.advance(hours=1)
    woo.update_order(woo.order_ids[3], status="completed")
    runner.sync("orders")
    state = runner.state("orders")
    assert state.since == state.webhooks_ok_at == START + timedelta(hours=1)
    # a run whose check could not list the webhooks leaves webhooks_ok_at behind the cursor
    runner.states["orders"]["webhooks_ok_at"] = START.isoformat()
    break_webhook(woo, receiver, hooks["order.updated"], [woo.order(woo.order_ids[0])] * 7)
    clock.advance(hours=1)
    spy.requests.clear()
    runner.sync("orders")
    bound = spy.lists("orders")[0]["modified_after"]
    assert bound == (START - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S")
    assert runner.state("orders").webhooks_ok_at == START + timedelta(hours=2)


def test_without_reenabling_the_webhook_stays_disabled_and_is_reported(
    woo_hub, woo, receiver, hooks, clock
):
    runner = Runner(woo_hub(reenable_webhooks=False))
    runner.sync()
    clock.advance(hours=1)
    break_webhook(woo, receiver, hooks["customer.created"], [woo.customer(woo.customer_ids[1])] * 7)
    problems = health(runner.hub)
    assert (
        "re-enable it under WooCommerce > Settings > Advanced > Webhooks" in problems[0]["message"]
    )
    first = runner.sync("customers")
    assert woo.webhook(hooks["customer.created"].id).status == "disabled"
    assert any("full_pass_reason" in m for m in first.metas)  # the gap is covered once
    clock.advance(hours=1)
    second = runner.sync("customers")
    assert not any("full_pass_reason" in m for m in second.metas)  # not on every sync
    assert health(runner.hub)[0]["level"] == "error"


def test_paused_webhooks_are_reported_but_left_alone(runner, woo, hooks):
    woo.webhooks.update(hooks["order.created"].id, status="paused")
    problems = health(runner.hub)
    assert problems == [
        {
            "level": "warning",
            "message": f"webhook {hooks['order.created'].id} (order.created) is paused: changes "
            "arrive only with syncs until it is active again",
        }
    ]
    runner.sync()
    assert woo.webhook(hooks["order.created"].id).status == "paused"


def test_missing_and_foreign_subscriptions(runner, woo, receiver):
    assert "no WooCommerce webhook delivers to" in health(runner.hub)[0]["message"]
    woo.create_webhook(
        "order.updated", "https://elsewhere.example/hook", secret=SECRET, status="disabled"
    )
    woo.create_webhook("order.created", hook_url(receiver) + "/", secret=SECRET)
    problems = health(runner.hub)
    assert len(problems) == 1  # the other site's disabled webhook is none of our business
    assert problems[0]["message"].startswith("no webhook for customer.created, customer.updated")
    runner.sync()
    assert woo.webhooks.webhooks[1].status == "disabled"


def test_a_read_only_key_syncs_and_says_it_cannot_re_enable(make_hub, clock, receiver):
    site = FakeWooCommerce(clock=clock, allow_basic=False, key_permissions="read")
    site.seed(5, 10)
    with site:
        hook = site.create_webhook("order.updated", hook_url(receiver), secret=SECRET)
        break_webhook(site, receiver, hook, [{"id": 1}] * 7)
        hub = make_hub(
            plugins={
                "woocommerce": {
                    "main": {
                        "url": site.url,
                        "consumer_key": site.consumer_key,
                        "consumer_secret": site.consumer_secret,
                        "webhook_secret": SECRET,
                    }
                }
            },
            hub={"public_url": receiver[1]},
            clock=clock,
        )
        done = Runner(hub).sync()
        assert len(done.ids(CustomerRecord)) == len(site.customer_ids)
        errors = [m["webhook_check_error"] for m in done.metas if "webhook_check_error" in m]
        assert "does not have write permissions" in errors[0]
        assert site.webhook(hook.id).status == "disabled"


def test_the_ping_of_a_recreated_webhook_passes_the_intake(runner, woo, receiver, hooks):
    ping = next(r for r in receiver[0].requests if r.body.startswith(b"webhook_id="))
    assert intake(runner.hub, ping, at=START) == 200


def test_crmhub_plugins_shows_the_disabled_webhook(
    tmp_path, woo, receiver, hooks, crmhub_database_url
):
    import os
    import subprocess
    import sys

    break_webhook(woo, receiver, hooks["order.updated"], [{"id": 1}] * 7)
    config = tmp_path / "crmhub.toml"
    config.write_text(
        f'[hub]\ndatabase_url = "{crmhub_database_url}"\npublic_url = "{receiver[1]}"\n'
        f'[plugins.woocommerce.main]\nurl = "{woo.url}"\nconsumer_key = "{woo.consumer_key}"\n'
        f'consumer_secret = "{woo.consumer_secret}"\nwebhook_secret = "{SECRET}"\n'
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from crmhub.core.cli.main import entry_point; entry_point()",
            "plugins",
            "--json",
        ],
        cwd=tmp_path,
        env={**os.environ, "CRMHUB_CONFIG": str(config)},
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    plugin = next(p for p in json.loads(done.stdout)["plugins"] if p["name"] == "woocommerce")
    problems = plugin["instances"][0]["health"]
    assert "(order.updated) is disabled" in problems[0]["message"]
    assert woo.consumer_secret not in done.stdout + done.stderr
