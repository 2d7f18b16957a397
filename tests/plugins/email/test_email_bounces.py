"""Hard and soft bounces from a real SMTP server, retries with back-off, and failures of the
server itself."""

from __future__ import annotations

from datetime import timedelta

import pytest
from email_support import Clock, add_customers, interactions, join_segment, sends
from sqlalchemy import select

from crmhub.core.models import Job
from crmhub.plugins.email.campaigns import send_campaign
from crmhub.plugins.email.jobs import deliver
from crmhub.plugins.email.models import EmailSuppression
from crmhub.plugins.email.smtp import SmtpRejected, SmtpUnavailable
from crmhub.plugins.email.suppression import address_hash
from crmhub.plugins.email.templates import TemplateRenderError
from tests.conftest import T0


def test_a_5xx_suppresses_the_address_and_it_is_never_tried_again(email_hub, smtp_server):
    hub = email_hub()
    ids = add_customers(hub, 3)
    smtp_server.handler.rules["c1@example.com"] = "550 5.1.1 <c1@example.com>: no such user"
    join_segment(hub, "champions", ids)

    summary = send_campaign(hub, "spring")

    assert summary["delivery"]["bounced"] == 1 and summary["delivery"]["sent"] == 2
    bounced = sends(hub, customer_id=ids[1])[0]
    assert bounced.status == "bounced" and bounced.last_code == 550 and "no such user" in bounced.detail
    [bounce] = interactions(hub, "email_bounced")
    assert bounce.customer_id == ids[1] and bounce.value == 550 and bounce.data["bounce"] == "hard"
    with hub.transaction() as session:
        entry = session.execute(select(EmailSuppression.__table__)).one()
    assert entry.address_hash == address_hash("c1@example.com") and entry.reason == "hard_bounce"

    # a later campaign to the same address does not even try it
    hub2 = email_hub(campaigns={"summer": {"segment": "champions", "template": "spring"}})
    again = send_campaign(hub2, "summer")
    assert again["enrolment"]["ineligible"] == {"suppressed": 1}
    assert smtp_server.handler.attempts["c1@example.com"] == 1


def test_a_4xx_is_retried_with_back_off_until_it_is_accepted(email_hub, smtp_server):
    clock = Clock(T0)
    hub = email_hub(clock=clock)
    ids = add_customers(hub, 2)
    smtp_server.handler.rules["c0@example.com"] = ["451 4.3.0 try again later"] * 2
    join_segment(hub, "champions", ids)

    send_campaign(hub, "spring")
    row = sends(hub, customer_id=ids[0])[0]
    assert row.status == "deferred" and row.attempts == 1
    assert row.due_at == T0 + timedelta(minutes=5)
    with hub.transaction() as session:
        jobs = session.execute(select(Job.__table__)).all()
    assert [(job.actor, job.args, job.run_after) for job in jobs] == [("email.deliver", {"instance": "email.main"}, row.due_at)]

    assert deliver(hub, "email.main")["deferred"] == 0  # not due yet: nothing is tried
    assert smtp_server.handler.attempts["c0@example.com"] == 1
    clock.advance(minutes=5)
    deliver(hub, "email.main")
    row = sends(hub, customer_id=ids[0])[0]
    assert row.status == "deferred" and row.attempts == 2 and row.due_at == clock.now + timedelta(minutes=10)
    clock.advance(minutes=10)
    deliver(hub, "email.main")

    assert sends(hub, customer_id=ids[0])[0].status == "sent"
    assert smtp_server.handler.per_recipient() == {"c0@example.com": 1, "c1@example.com": 1}
    assert smtp_server.handler.attempts["c0@example.com"] == 3


def test_a_soft_bounce_fails_for_good_after_max_attempts_without_looping(email_hub, smtp_server):
    clock = Clock(T0)
    hub = email_hub(clock=clock, max_attempts=3)
    ids = add_customers(hub, 1)
    smtp_server.handler.rules["c0@example.com"] = "452 4.2.2 mailbox full"
    join_segment(hub, "champions", ids)

    send_campaign(hub, "spring")
    for _ in range(10):
        clock.advance(hours=7)
        deliver(hub, "email.main")

    row = sends(hub)[0]
    assert row.status == "failed" and row.attempts == 3
    assert smtp_server.handler.attempts["c0@example.com"] == 3
    [bounce] = interactions(hub, "email_bounced")
    assert bounce.data["bounce"] == "soft" and bounce.data["attempts"] == 3


def test_a_rejection_at_the_end_of_data_is_a_bounce_too(email_hub, smtp_server):
    hub = email_hub()
    ids = add_customers(hub, 2)
    smtp_server.handler.data_rules["c0@example.com"] = "554 5.7.1 message refused"
    smtp_server.handler.data_rules["c1@example.com"] = ["421 4.7.0 come back later"]
    join_segment(hub, "champions", ids)

    send_campaign(hub, "spring")

    assert [(row.status, row.last_code) for row in sends(hub)] == [("bounced", 554), ("deferred", 421)]
    assert smtp_server.handler.messages == []


def test_an_unreachable_server_stops_the_run_and_leaves_everything_due(email_hub, smtp_server):
    from smtp_recorder import free_port

    hub = email_hub(smtp_port=free_port())
    join_segment(hub, "champions", add_customers(hub, 3))

    with pytest.raises(SmtpUnavailable, match="unavailable"):
        send_campaign(hub, "spring")

    assert [(row.status, row.attempts) for row in sends(hub)] == [("queued", 0)] * 3


def test_a_refused_sender_stops_the_run_as_a_configuration_error(email_hub, smtp_server):
    hub = email_hub()
    join_segment(hub, "champions", add_customers(hub, 2))

    async def refuse(server, session, envelope, address, mail_options):
        return "553 5.7.1 sender not allowed"

    smtp_server.handler.handle_MAIL = refuse
    with pytest.raises(SmtpRejected, match="refuses the sender"):
        send_campaign(hub, "spring")

    assert [row.status for row in sends(hub)] == ["queued", "queued"]


def test_a_template_broken_for_everyone_stops_before_anything_is_marked(email_hub, smtp_server):
    hub = email_hub(templates={"spring": {"subject": "Hi {{ customer.nickname }}", "text": "x"}})
    join_segment(hub, "champions", add_customers(hub, 2))

    with pytest.raises(TemplateRenderError, match="nickname"):
        send_campaign(hub, "spring")

    assert [row.status for row in sends(hub)] == ["queued", "queued"]


def test_an_address_smtp_cannot_carry_fails_that_row_only(email_hub, smtp_server):
    from sqlalchemy import update

    from crmhub.core.models import Customer

    hub = email_hub()
    ids = add_customers(hub, 3)
    with hub.transaction() as session:
        session.execute(update(Customer.__table__).where(Customer.__table__.c.id == ids[1])
                        .values(email="two words@example.com"))
    join_segment(hub, "champions", ids)

    summary = send_campaign(hub, "spring")

    assert summary["delivery"]["sent"] == 2 and summary["delivery"]["failed"] == 1
    failed = sends(hub, customer_id=ids[1])[0]
    assert failed.status == "failed" and "not an address SMTP can use" in failed.detail
    assert set(smtp_server.handler.per_recipient()) == {"c0@example.com", "c2@example.com"}
