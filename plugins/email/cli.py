"""``crmhub email …``: send a campaign, preview, report, deliver due email, suppressions."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from crmhub.core.cli.context import cli_context
from crmhub.core.cli.output import console, print_json, print_table, progress
from crmhub.plugins.email.campaigns import send_campaign
from crmhub.plugins.email.delivery import Deliverer
from crmhub.plugins.email.preview import preview
from crmhub.plugins.email.report import report
from crmhub.plugins.email.runtime import instances, runtime
from crmhub.plugins.email.suppression import list_suppressions, suppress, unsuppress

Instance = Annotated[str | None, typer.Option("--instance", help="Email instance (when several define the name).")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}%"


def _interval(found: dict[str, Any] | None, scale: float = 1.0, unit: str = "") -> str:
    if not found:
        return "n/a"
    return (f"{found['estimate'] * scale:+.2f}{unit}  "
            f"[{found['low'] * scale:+.2f}{unit}, {found['high'] * scale:+.2f}{unit}]")


def register(app: typer.Typer) -> None:
    """Add the ``email`` group."""
    group = typer.Typer(help="Email campaigns, flows, previews and results.", no_args_is_help=True)

    @group.command("send")
    def send(
        ctx: typer.Context, campaign: Annotated[str, typer.Argument(help="Campaign name.")],
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Count only; enrol and send nothing.")] = False,
        instance: Instance = None, json_output: Json = False,
    ) -> None:
        """Send a campaign to its segment (each customer at most once; resumable)."""
        hub = cli_context(ctx).hub()
        with progress(f"sending {campaign}", enabled=not json_output and not dry_run) as bar:
            task = bar.add_task(f"sending {campaign}", total=None)
            summary = send_campaign(hub, campaign, instance=instance, dry_run=dry_run,
                                    progress=lambda n: bar.advance(task, n))
        if json_output:
            print_json(summary)
            return
        enrolled = summary["enrolment"]
        console.print(f"{summary['instance']} {campaign} → segment {summary['segment']}: "
                      f"{enrolled['considered']} members, {enrolled['already_enrolled']} already enrolled, "
                      f"{enrolled['treated']} treated + {enrolled['control']} control newly enrolled, "
                      f"ineligible {enrolled['ineligible'] or 0}")
        if dry_run:
            console.print(f"dry run: would send {summary['would_send']} emails")
            return
        done = summary["delivery"]
        console.print(f"sent {done['sent']}, bounced {done['bounced']}, deferred {done['deferred']}, "
                      f"failed {done['failed']}, skipped {done['skipped'] or 0}")
        if summary["statuses"].get("sending"):
            console.print(f"{summary['statuses']['sending']} left in 'sending' by an interruption: "
                          "never resent (at most once)")

    @group.command("preview")
    def show_preview(
        ctx: typer.Context, name: Annotated[str, typer.Argument(help="Campaign or flow name.")],
        customer: Annotated[int, typer.Option("--customer", help="Customer id.")],
        html: Annotated[bool, typer.Option("--html", help="Print the HTML part instead of the text.")] = False,
        instance: Instance = None, json_output: Json = False,
    ) -> None:
        """Render one customer's email (nothing is sent or recorded)."""
        found = preview(cli_context(ctx).hub(), name, customer, instance=instance)
        if json_output:
            print_json(found)
            return
        for key, value in found["headers"].items():
            console.print(f"{key}: {value}", markup=False, highlight=False)
        if not found["eligible"]:
            console.print(f"[yellow]not sent to this customer: {found['reason']}[/yellow]")
        console.print(f"arm: {found['arm']}\n")
        console.print((found["html"] or "") if html else found["text"], markup=False, highlight=False)

    @group.command("report")
    def show_report(
        ctx: typer.Context, name: Annotated[str, typer.Argument(help="Campaign or flow name.")],
        instance: Instance = None, json_output: Json = False,
    ) -> None:
        """Treated vs control: conversion, revenue per customer, 95% intervals, delivery."""
        found = report(cli_context(ctx).hub(), name, instance=instance)
        if json_output:
            print_json(found)
            return
        arms = found["arms"]
        print_table(f"{found['kind']} {name} ({found['conversion_window_days']}-day window, "
                    f"{'complete' if found['window_complete'] else 'still open'})",
                    ["arm", "customers", "conversions", "conversion", f"revenue/customer ({found['currency']})"],
                    [(arm, a["customers"], a["conversions"], _percent(a["conversion_rate"]),
                      "" if a["revenue_per_customer"] is None else f"{a['revenue_per_customer']:.2f}")
                     for arm, a in arms.items()])
        difference = found["difference"]
        console.print(f"conversion difference: {_interval(difference['conversion_rate'], 100, ' pp')}")
        console.print(f"revenue per customer difference: {_interval(difference['revenue_per_customer'])}")
        d = found["delivery"]
        console.print(f"delivered {d['delivered']}, bounced {d['bounced']}, opened {d['opened']} "
                      f"({_percent(d['open_rate'])}), clicked {d['clicked']} ({_percent(d['click_rate'])}), "
                      f"unsubscribed {d['unsubscribed']}, deferred {d['deferred']}, failed {d['failed']}, "
                      f"unknown {d['unknown']}")

    @group.command("deliver")
    def deliver(ctx: typer.Context, instance: Instance = None, json_output: Json = False) -> None:
        """Deliver what is due now (flow emails, retries) without waiting for a worker."""
        hub = cli_context(ctx).hub()
        targets = [runtime(hub, instance if "." in instance else f"email.{instance}")] if instance else instances(hub)
        results = {rt.id: Deliverer(hub, rt).run().as_dict() for rt in targets}
        if json_output:
            print_json(results)
            return
        for name, done in results.items():
            console.print(f"{name}: sent {done['sent']}, bounced {done['bounced']}, deferred {done['deferred']}, "
                          f"failed {done['failed']}, skipped {done['skipped'] or 0}")

    @group.command("suppressions")
    def suppressions(ctx: typer.Context, limit: Annotated[int, typer.Option("--limit")] = 100,
                     json_output: Json = False) -> None:
        """List suppressed addresses, newest first."""
        hub = cli_context(ctx).hub()
        with hub.transaction() as session:
            rows = list_suppressions(session, limit=limit)
        if json_output:
            print_json(rows)
            return
        print_table("suppressed addresses", ["address", "reason", "since", "detail"], [
            (row["email"] or f"(erased) {str(row['address_hash'])[:12]}…", row["reason"], row["created_at"], row["detail"])
            for row in rows])

    @group.command("suppress")
    def add(ctx: typer.Context, address: Annotated[str, typer.Argument(help="Email address.")]) -> None:
        """Never mail an address again (reason "manual")."""
        hub = cli_context(ctx).hub()
        with hub.transaction() as session:
            suppress(session, email=address, reason="manual", instance="cli", now=hub.now())
        console.print(f"suppressed {address}")

    @group.command("unsuppress")
    def remove(ctx: typer.Context, address: Annotated[str, typer.Argument(help="Email address.")]) -> None:
        """Take an address off the suppression list (consent still applies)."""
        hub = cli_context(ctx).hub()
        with hub.transaction() as session:
            found = unsuppress(session, address)
        console.print(f"{address} is no longer suppressed" if found else f"{address} was not suppressed")
        if not found:
            raise typer.Exit(1)

    app.add_typer(group, name="email")
