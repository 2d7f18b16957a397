"""Campaigns through a real SMTP server: headers, bodies, consent, suppression, resumes."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from email_support import (
    PUBLIC_URL,
    Clock,
    add_customers,
    add_order,
    interactions,
    join_segment,
    sends,
)
from sqlalchemy import update

from crmhub.core.errors import InputError, NotFound
from crmhub.core.models import Customer
from crmhub.plugins.email.campaigns import send_campaign
from crmhub.plugins.email.suppression import suppress
from tests.conftest import T0


def test_a_campaign_sends_one_complete_marketing_message_per_member(email_hub, smtp_server):
    hub = email_hub(clock=Clock(T0 + timedelta(days=30)))
    ids = add_customers(hub, 3)
    add_order(hub, "c0@example.com", T0, "40.00", number="o1", sku="SKU-A", title="Old shoes")
    add_order(hub, "c1@example.com", T0, "90.00", number="o2", sku="SKU-B", title="Best seller")
    join_segment(hub, "champions", ids)

    summary = send_campaign(hub, "spring")

    assert summary["enrolment"]["treated"] == 3 and summary["delivery"]["sent"] == 3, repr(summary)
    assert smtp_server.handler.per_recipient() == {f"c{i}@example.com": 1 for i in range(3)}
    message = smtp_server.handler.to("c0@example.com")[0]
    assert message.mail_from == "news@shop.example.com"
    parsed = message.parsed()
    assert parsed["Subject"] == "Spring picks for Name0"
    assert parsed["From"] == "Shop <news@shop.example.com>"
    assert parsed["To"] == "Name0 <c0@example.com>"
    assert parsed["Reply-To"] == "help@shop.example.com"
    assert parsed["Message-ID"].endswith("@shop.example.com>")
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = [part.strip() for part in parsed["List-Unsubscribe"].split(",")]
    assert re.fullmatch(rf"<{PUBLIC_URL}/unsubscribe/[A-Za-z0-9_-]{{48}}>", https)
    assert mailto.startswith("<mailto:unsubscribe@shop.example.com?subject=unsubscribe%20")
    assert "c0@example.com" not in parsed["List-Unsubscribe"]
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    assert text.startswith("Hello Name0,")
    assert "Hello Name0" in html and "Best seller" in html and "Old shoes" not in html
    # tracked links: the shop link is replaced in both parts by the same signed redirect
    assert "shop.example.com/spring" not in html and "shop.example.com/spring" not in text
    redirects = set(re.findall(rf"{PUBLIC_URL}/email/click/[A-Za-z0-9_-]+", html))
    assert redirects and redirects == set(re.findall(rf"{PUBLIC_URL}/email/click/[A-Za-z0-9_-]+", text))
    assert f'{PUBLIC_URL}/email/open/' in html
    assert https[1:-1] in html  # the unsubscribe link itself is not tracked
    row = sends(hub, customer_id=ids[0])[0]
    assert row.status == "sent" and row.links == ["https://shop.example.com/spring?utm=mail&c=1"]
    assert row.message_id == parsed["Message-ID"]
    assert len(interactions(hub, "email_sent")) == 3


def test_only_consenting_unsuppressed_active_customers_are_mailed(email_hub, smtp_server):
    hub = email_hub()
    granted = add_customers(hub, 3, prefix="yes")
    refused = add_customers(hub, 1, consent=False, prefix="no")
    unknown = add_customers(hub, 1, consent=None, prefix="unknown")
    with hub.transaction() as session:
        suppress(session, email="YES1@example.com", reason="manual", instance="cli", now=hub.now())
        session.execute(update(Customer.__table__).where(Customer.__table__.c.id == granted[2])
                        .values(status="erased", email=None))
    join_segment(hub, "champions", granted + refused + unknown)

    summary = send_campaign(hub, "spring")

    assert smtp_server.handler.per_recipient() == {"yes0@example.com": 1}
    assert summary["enrolment"]["ineligible"] == {"erased": 1, "no_consent": 2, "suppressed": 1}
    assert [row.customer_id for row in sends(hub)] == [granted[0]]


def test_consent_withdrawn_after_enrolment_is_checked_again_when_sending(email_hub, smtp_server):
    from crmhub.core.ingest import ingestor
    from crmhub.core.records import ConsentRecord, CustomerRecord
    from crmhub.plugins.email.audience import enrol
    from crmhub.plugins.email.delivery import Deliverer
    from crmhub.plugins.email.runtime import runtime

    hub = email_hub()
    ids = add_customers(hub, 2)
    rt = runtime(hub, "email.main")
    with hub.transaction() as session:
        enrol(session, instance="email.main", kind="campaign", name="spring", step=rt.step("campaign", "spring"),
              customer_ids=ids, due_at=hub.now())
    ingestor(hub).ingest_and_commit([CustomerRecord(
        instance="import.default", external_id="c1", email="c1@example.com",
        source_updated_at=hub.now() + timedelta(seconds=1),
        consent=[ConsentRecord(granted=False, recorded_at=hub.now() + timedelta(seconds=1))])])

    done = Deliverer(hub, rt).run()

    assert smtp_server.handler.per_recipient() == {"c0@example.com": 1}
    assert done.skipped == {"no_consent": 1}
    assert [row.status for row in sends(hub)] == ["sent", "skipped"]


def test_running_a_campaign_again_only_mails_new_members(email_hub, smtp_server):
    hub = email_hub()
    first = add_customers(hub, 2, prefix="a")
    join_segment(hub, "champions", first)
    send_campaign(hub, "spring")
    later = add_customers(hub, 1, prefix="b")
    join_segment(hub, "champions", later)

    again = send_campaign(hub, "spring")

    assert again["enrolment"] == {"considered": 3, "already_enrolled": 2, "treated": 1, "control": 0, "ineligible": {}}
    assert smtp_server.handler.per_recipient() == {"a0@example.com": 1, "a1@example.com": 1, "b0@example.com": 1}


def test_a_dry_run_counts_and_changes_nothing(email_hub, smtp_server):
    hub = email_hub(campaigns={"spring": {"segment": "champions", "template": "spring", "holdout": 0.5}})
    join_segment(hub, "champions", add_customers(hub, 40) + add_customers(hub, 3, consent=False, prefix="n"))

    plan = send_campaign(hub, "spring", dry_run=True)

    assert plan["enrolment"]["treated"] + plan["enrolment"]["control"] == 40
    assert plan["enrolment"]["ineligible"] == {"no_consent": 3}
    assert plan["would_send"] == plan["enrolment"]["treated"]
    assert sends(hub) == [] and smtp_server.handler.messages == []


def test_unknown_names_and_unconfigured_segments_are_clear_errors(email_hub):
    hub = email_hub(campaigns={"lost": {"segment": "nowhere", "template": "spring"}})
    with pytest.raises(NotFound, match="no email campaign or flow named 'nope'"):
        send_campaign(hub, "nope")
    with pytest.raises(NotFound, match="segment 'nowhere' is not configured"):
        send_campaign(hub, "lost")
    with pytest.raises(InputError, match="is a flow"):
        send_campaign(hub, "welcome")




def test_every_message_passes_the_shared_rate_limiter(email_hub, smtp_server):
    from crmhub.core.http import TokenBucket
    from crmhub.plugins.email.audience import enrol
    from crmhub.plugins.email.delivery import Deliverer
    from crmhub.plugins.email.runtime import runtime

    hub = email_hub(rate_per_second=5)
    ids = add_customers(hub, 6)
    rt = runtime(hub, "email.main")
    with hub.transaction() as session:
        enrol(session, instance="email.main", kind="campaign", name="spring", step=rt.step("campaign", "spring"),
              customer_ids=ids, due_at=hub.now())
    deliverer = Deliverer(hub, rt)
    assert deliverer.limiter.key == f"smtp:{smtp_server.host}:{smtp_server.port}"
    assert deliverer.limiter.policies == {"send": TokenBucket(5.0, 5.0)}
    calls = []
    acquire, settle = deliverer.limiter.acquire, deliverer.limiter.settle
    deliverer.limiter.acquire = lambda *a, **k: calls.append("acquire") or acquire(*a, **k)
    deliverer.limiter.settle = lambda *a, **k: calls.append("settle") or settle(*a, **k)

    deliverer.run()

    assert calls == ["acquire", "settle"] * 6 and len(smtp_server.handler.messages) == 6
    unlimited = email_hub()
    assert Deliverer(unlimited, runtime(unlimited, "email.main")).limiter is None
