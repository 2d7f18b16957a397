"""Benchmark: messages per second to a local SMTP server through the email plugin, against a
bare smtplib loop sending the same rendered messages in the same run.

The SMTP server (aiosmtpd's ``Sink``) runs in its own process, so client and server do not
share an interpreter. Each repeat sends a fresh campaign to N consenting customers:

- plugin: ``send_campaign`` — enrolment (eligibility, holdout draw, rows), then for every
  message: context, render, claim committed before SMTP, SMTP, verdict + interaction;
- bare: one ``smtplib.SMTP`` connection, ``sendmail`` of the same messages, rendered by the
  plugin's composer beforehand (outside the timed loop): no database at all.

    python bench/email.py                          # 2,000 messages, SQLite and PostgreSQL
    python bench/email.py --messages 5000 --db sqlite

Prints messages/s of both and their ratio (target >= 0.7) per database, best of the
repeats, and the CPU time this process spends per message in each (the SMTP server's CPU
is not counted): on a machine whose CPUs are busy, CPU per message decides the ratio.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named email.py: keep its folder off the import path, or it would hide the
# standard library's email package from smtplib and everything else.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import os
import smtplib
import socket
import subprocess
import tempfile
import time
from typing import Any

from sqlalchemy import insert, select, text

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGET = 0.7
HTML = """<html><body><h1>Hello {{ customer.first_name or "friend" }}</h1>
<p>You have ordered {{ customer.orders_count }} times. Tier: {{ scores.tier or "new" }}.</p>
<p><a href="https://shop.example.com/spring?utm=mail">Shop spring</a> ·
<a href="https://shop.example.com/account">Your account</a></p>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sink() -> tuple[subprocess.Popen[bytes], int]:
    """aiosmtpd's Sink handler in a process of its own; returns it and its port."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                               "-c", "aiosmtpd.handlers.Sink"], cwd=tempfile.gettempdir())
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server, port
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def database(kind: str, workdir: Path) -> str:
    """A fresh database URL for the run."""
    if kind == "sqlite":
        return f"sqlite:///{workdir}/bench.db"
    from sqlalchemy.engine import make_url

    from crmhub.core.storage.engine import create_engine

    server = make_url(os.environ.get("CRMHUB_BENCH_PG_URL", PG_SERVER))
    admin = create_engine(server.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text('DROP DATABASE IF EXISTS "crmhub_bench_email" WITH (FORCE)'))
        connection.execute(text('CREATE DATABASE "crmhub_bench_email"'))
    admin.dispose()
    return server.set(database="crmhub_bench_email").render_as_string(hide_password=False)


def build_hub(url: str, port: int, repeats: int) -> Any:
    from crmhub.core.hub import create_hub
    from crmhub.core.settings import load_settings

    campaigns = {f"run{r}": {"segment": "everyone", "template": "spring"} for r in range(repeats)}
    settings = load_settings(None, hub={"database_url": url, "secret_key": "bench-secret-key",
                                        "public_url": "https://hub.example.com"},
                             plugins={"email": {"main": {
                                 "smtp_host": "127.0.0.1", "smtp_port": port, "helo_name": "bench.local",
                                 "from_address": "Shop <news@shop.example.com>",
                                 "unsubscribe_mailto": "unsubscribe@shop.example.com", "recommendations": 0,
                                 "templates": {"spring": {"subject": "Spring for {{ customer.first_name }}",
                                                          "html": HTML}},
                                 "campaigns": campaigns}}},
                             segments={"everyone": {"rule": "orders_count >= 0"}})
    hub = create_hub(settings, migrate_embedded=False)
    hub.upgrade_database()
    return hub


def seed(hub: Any, count: int) -> list[int]:
    from crmhub.core.ingest import ingestor
    from crmhub.core.models import SegmentMember
    from crmhub.core.records import ConsentRecord, CustomerRecord

    records = [CustomerRecord(instance="import.default", external_id=str(i), email=f"person{i}@example.com",
                              first_name=f"Person{i}", source_updated_at=hub.now(),
                              consent=[ConsentRecord(granted=True, recorded_at=hub.now())]) for i in range(count)]
    result = ingestor(hub).ingest_and_commit(records, source="import.default")
    ids = sorted(result.customer_ids)
    with hub.transaction() as session:
        session.execute(insert(SegmentMember.__table__),
                        [{"segment": "everyone", "customer_id": cid, "entered_at": hub.now()} for cid in ids])
    return ids


def rendered(hub: Any, ids: list[int]) -> list[tuple[str, str, bytes]]:
    """The campaign's messages as the plugin renders them: (sender, recipient, bytes)."""
    from crmhub.plugins.email.context import Recommender, load_contexts
    from crmhub.plugins.email.runtime import runtime

    rt = runtime(hub, "email.main")
    step = rt.step("campaign", "run0")
    with hub.transaction() as session:
        contexts = load_contexts(session, ids, Recommender(hub.sessions, now=hub.now(), count=0))
    messages = []
    for send_id, cid in enumerate(ids, start=1):
        composed = rt.composer.compose(template=rt.templates.get("spring"), context=contexts[cid], send_id=send_id,
                                       kind="campaign", name="run0", step=step, now=hub.now())
        messages.append((composed.sender, composed.recipient, composed.data))
    return messages


def bare(port: int, messages: list[tuple[str, str, bytes]]) -> tuple[float, float]:
    """Wall and CPU seconds of a plain smtplib loop over one connection."""
    started, cpu = time.perf_counter(), time.process_time()
    with smtplib.SMTP("127.0.0.1", port, local_hostname="bench.local") as smtp:
        for sender, recipient, data in messages:
            smtp.sendmail(sender, [recipient], data)
    return time.perf_counter() - started, time.process_time() - cpu


def plugin(hub: Any, campaign: str) -> tuple[float, float, float, int]:
    """Wall seconds of the whole campaign, of its delivery loop, CPU seconds, messages sent."""
    from crmhub.plugins.email import campaigns, delivery

    timings: dict[str, float] = {}
    original = delivery.Deliverer.run

    def timed(self: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(self, **kwargs)
        finally:
            timings["deliver"] = time.perf_counter() - started

    delivery.Deliverer.run = timed  # type: ignore[method-assign]
    try:
        started, cpu = time.perf_counter(), time.process_time()
        summary = campaigns.send_campaign(hub, campaign)
        total, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        delivery.Deliverer.run = original  # type: ignore[method-assign]
    return total, timings["deliver"], cpu, summary["delivery"]["sent"]


def run(kind: str, count: int, repeats: int) -> dict[str, float]:
    """Best-of-``repeats`` rates (messages/s) and CPU per message (ms) on one database."""
    sink, port = start_sink()
    try:
        with tempfile.TemporaryDirectory() as workdir:
            hub = build_hub(database(kind, Path(workdir)), port, repeats)
            ids = seed(hub, count)
            messages = rendered(hub, ids)
            best = {"bare": float("inf"), "plugin": float("inf"), "deliver": float("inf"),
                    "bare_cpu": float("inf"), "plugin_cpu": float("inf")}
            for r in range(repeats):
                wall, cpu = bare(port, messages)
                best["bare"], best["bare_cpu"] = min(best["bare"], wall), min(best["bare_cpu"], cpu)
                total, deliver, cpu, sent = plugin(hub, f"run{r}")
                assert sent == count, f"sent {sent} of {count}"
                best["plugin"], best["deliver"] = min(best["plugin"], total), min(best["deliver"], deliver)
                best["plugin_cpu"] = min(best["plugin_cpu"], cpu)
            with hub.transaction() as session:
                from crmhub.plugins.email.models import EmailSend

                assert len(session.execute(select(EmailSend.__table__.c.id)).all()) == count * repeats
            hub.close()
    finally:
        sink.terminate()
        sink.wait(timeout=30)
    rates = {name: count / best[name] for name in ("bare", "plugin", "deliver")}
    return {**rates, **{name: 1000 * best[name] / count for name in ("bare_cpu", "plugin_cpu")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    print(f"{'database':<11}{'bare msg/s':>11}{'plugin msg/s':>13}{'ratio':>7}{'loop msg/s':>11}{'ratio':>7}"
          f"{'target':>8}{'client CPU ms/msg bare | plugin':>34}")
    for kind in kinds:
        r = run(kind, args.messages, args.repeats)
        print(f"{kind:<11}{r['bare']:>11,.0f}{r['plugin']:>13,.0f}{r['plugin'] / r['bare']:>7.2f}{r['deliver']:>11,.0f}"
              f"{r['deliver'] / r['bare']:>7.2f}{'>= ' + str(TARGET):>8}{r['bare_cpu']:>26.3f} | {r['plugin_cpu']:.3f}")
    print(f"({args.messages} messages per run, best of {args.repeats}; 'loop' = the delivery loop without "
          f"enrolment; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
