"""Crash-resume: a worker killed in the middle of a campaign, against a real SMTP server.

The send intent is committed before each SMTP transaction, so resuming never mails anyone
twice: a customer whose message was in flight when the worker died stays in ``sending``
and is not retried (at most once); so do those whose answers were not recorded yet.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from email_support import add_customers, join_segment, sends, write_config

from crmhub.plugins.email.campaigns import send_campaign
from crmhub.plugins.email.delivery import VERDICT_BATCH

COUNT = 40


def _start(tmp_path, database_url, server, **overrides):
    config = write_config(tmp_path / "crmhub.toml", database_url, server, **overrides)
    command = [sys.executable, "-c", "from crmhub.core.cli.main import entry_point; entry_point()",
               "email", "send", "spring"]
    return subprocess.Popen(command, cwd=tmp_path, env={**os.environ, "CRMHUB_CONFIG": str(config)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait(condition, seconds=60.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the worker made no progress"
        time.sleep(0.02)


def _emails(hub, rows):
    from sqlalchemy import select

    from crmhub.core.models import Customer

    table = Customer.__table__
    with hub.transaction() as session:
        return {row.email for row in session.execute(select(table.c.email).where(table.c.id.in_([r.customer_id for r in rows])))}


def test_killed_while_the_server_holds_a_message_resumes_without_a_duplicate(
    email_hub, smtp_server, crmhub_database_url, tmp_path,
):
    # Given a campaign to 40 customers, and a server that holds the 11th message in DATA
    hub = email_hub()
    join_segment(hub, "champions", add_customers(hub, COUNT))
    gate = threading.Event()
    smtp_server.handler.hold["c10@example.com"] = gate
    # When a worker is killed while that message is in flight, and the server then accepts it
    worker = _start(tmp_path, crmhub_database_url, smtp_server)
    try:
        _wait(lambda: smtp_server.handler.held == ["c10@example.com"])
        worker.kill()
        worker.wait(timeout=30)
    finally:
        gate.set()
    assert len(smtp_server.handler.messages) == 11
    unrecorded = _emails(hub, sends(hub, status="sending"))
    assert "c10@example.com" in unrecorded and len(unrecorded) <= VERDICT_BATCH + 1
    # and the campaign is resumed
    summary = send_campaign(hub, "spring")
    # Then everyone got exactly one message, including the one whose answer was lost
    assert smtp_server.handler.per_recipient() == {f"c{i}@example.com": 1 for i in range(COUNT)}
    assert summary["delivery"]["sent"] == COUNT - 11
    assert summary["statuses"] == {"sent": COUNT - len(unrecorded), "sending": len(unrecorded)}


def test_killed_at_an_arbitrary_moment_resumes_without_a_duplicate(
    email_hub, smtp_server, crmhub_database_url, tmp_path,
):
    hub = email_hub()
    join_segment(hub, "champions", add_customers(hub, COUNT))
    worker = _start(tmp_path, crmhub_database_url, smtp_server, rate_per_second=40)
    try:
        _wait(lambda: len(smtp_server.handler.messages) >= 12)
    finally:
        worker.kill()
        worker.wait(timeout=30)
    assert worker.returncode != 0

    send_campaign(hub, "spring")

    received = smtp_server.handler.per_recipient()
    assert max(received.values()) == 1
    missing = {f"c{i}@example.com" for i in range(COUNT)} - set(received)
    assert len(missing) <= 1  # at most the message in flight, lost rather than sent twice
    assert missing <= _emails(hub, sends(hub, status="sending"))
    assert {row.status for row in sends(hub)} <= {"sent", "sending"}
