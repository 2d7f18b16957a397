"""``crmhub customers search|show``: find customers and show a unified profile."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from crmhub.core.cli.context import cli_context
from crmhub.core.cli.output import console, print_json, print_table
from crmhub.core.identity.merge import unmerge
from crmhub.core.ingest.stats import refresh_stats
from crmhub.core.profiles import customer_profile, search_customers


def register(app: typer.Typer) -> None:
    """Add the ``customers`` group."""
    group = typer.Typer(help="Search customers and show unified profiles.", no_args_is_help=True)

    @group.command("search")
    def search(
        ctx: typer.Context,
        q: Annotated[Optional[str], typer.Argument(help="Text in the email or name.")] = None,
        email: Annotated[Optional[str], typer.Option("--email")] = None,
        phone: Annotated[Optional[str], typer.Option("--phone")] = None,
        tag: Annotated[Optional[str], typer.Option("--tag")] = None,
        segment: Annotated[Optional[str], typer.Option("--segment")] = None,
        limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 50,
        cursor: Annotated[Optional[str], typer.Option("--cursor", help="next_cursor of the previous page.")] = None,
        json_output: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Search active customers."""
        hub = cli_context(ctx).hub()
        with hub.transaction() as session:
            page = search_customers(session, email=email, q=q, phone=phone, tag=tag, segment=segment,
                                    limit=limit, cursor=cursor)
        if json_output:
            print_json(page)
            return
        print_table(None, ["id", "email", "name", "orders", "spent", "last order"], [
            (c["id"], c["email"], " ".join(filter(None, [c["first_name"], c["last_name"]])),
             c["orders_count"], c["total_spent"], c["last_order_at"].date() if c["last_order_at"] else "")
            for c in page["items"]
        ])
        if page["next_cursor"]:
            console.print(f"more: --cursor {page['next_cursor']}")

    @group.command("show")
    def show(
        ctx: typer.Context,
        customer_id: Annotated[int, typer.Argument(help="Customer id.")],
        json_output: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Show a unified profile: identities, orders, timeline, scores, segments, consent, merges."""
        hub = cli_context(ctx).hub()
        with hub.transaction() as session:
            profile = customer_profile(session, customer_id)
        if json_output:
            print_json(profile)
            return
        name = " ".join(filter(None, [profile["first_name"], profile["last_name"]])) or "(no name)"
        console.print(f"[bold]#{profile['id']} {name}[/bold]  {profile['email'] or ''}  {profile['phone'] or ''}")
        console.print(f"{profile['orders_count']} orders, {profile['total_spent']} spent")
        print_table("identities", ["source", "external id", "kind", "last seen"], [
            (i["instance"], i["external_id"], i["kind"], i["last_seen_at"]) for i in profile["identities"]
        ])
        print_table("consent", ["channel", "granted", "source", "recorded"], [
            (c["channel"], c["granted"], c["source"], c["recorded_at"]) for c in profile["consent"]
        ])
        if profile["scores"]:
            s = profile["scores"]
            console.print(f"scores: RFM {s['r']}{s['f']}{s['m']} {s['rfm_segment']}, tier {s['tier']}, "
                          f"CLV {s['clv']}, churn risk {s['churn_risk']}, health {s['health']}")
        print_table("segments", ["segment", "since"], [(m["segment"], m["entered_at"]) for m in profile["segments"]])
        print_table("timeline", ["when", "what", "source"], [
            (t["at"], t["summary"], t["instance"]) for t in profile["timeline"][:30]
        ])
        if profile["merges"]:
            print_table("merges", ["id", "survivor", "merged", "reason", "when", "undone"], [
                (m["id"], m["survivor_id"], m["merged_id"], m["reason"], m["merged_at"], m["unmerged_at"] or "")
                for m in profile["merges"]
            ])

    @group.command("unmerge")
    def unmerge_command(
        ctx: typer.Context,
        merge_id: Annotated[int, typer.Argument(help="Id of the merge (see `customers show`).")],
        json_output: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Undo a merge: restore both profiles and never merge the pair automatically again."""
        hub = cli_context(ctx).hub()
        with hub.transaction() as session:
            survivor, restored = unmerge(session, record_id=merge_id, now=hub.now())
            refresh_stats(session, [survivor, restored], hub.now())
        if json_output:
            print_json({"merge": merge_id, "customers": [survivor, restored]})
        else:
            console.print(f"merge {merge_id} undone: customers {survivor} and {restored} are separate again")

    app.add_typer(group, name="customers")
