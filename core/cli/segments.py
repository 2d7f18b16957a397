"""``crmhub segments list|check|refresh|push``: check rules, materialise membership and
push differences to destinations."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer
from sqlalchemy import select

from crmhub.core.cli.context import cli_context
from crmhub.core.cli.output import console, errors, print_json, print_table, progress
from crmhub.core.errors import RuleSyntaxError
from crmhub.core.models import Segment
from crmhub.core.segments.push import push_segments
from crmhub.core.segments.refresh import refresh_segments
from crmhub.core.segments.rules import check_configured


def caret(error: RuleSyntaxError, text: str) -> str:
    """The rule line the error points at, with a caret under the column."""
    lines = text.splitlines() or [""]
    line = lines[min(error.line, len(lines)) - 1]
    return f"  {line}\n  {' ' * (error.column - 1)}^"


def _json_error(error: RuleSyntaxError | None) -> dict[str, Any] | None:
    return None if error is None else {"line": error.line, "column": error.column, "message": error.reason}


def register(app: typer.Typer) -> None:
    """Add the ``segments`` group."""
    group = typer.Typer(help="Check, refresh and push segments.", no_args_is_help=True)

    @group.command("list")
    def list_(ctx: typer.Context, json_output: Annotated[bool, typer.Option("--json")] = False) -> None:
        """Configured segments with their rule, destinations and current size."""
        hub = cli_context(ctx).hub()
        checks = check_configured(hub.settings)
        with hub.transaction() as session:
            rows = {row.name: row for row in session.execute(select(Segment.__table__))}
        items = []
        for name, config in hub.settings.segments.items():
            row = rows.get(name)
            items.append({"name": name, "rule": config.rule, "description": config.description,
                          "destinations": config.destinations, "size": row.size if row else None,
                          "refreshed_at": row.refreshed_at if row else None,
                          "error": _json_error(checks[name].error)})
        if json_output:
            print_json({"segments": items})
            return
        print_table(None, ["segment", "size", "refreshed", "destinations", "rule"], [
            (i["name"], "" if i["size"] is None else i["size"], i["refreshed_at"] or "never",
             ", ".join(i["destinations"]), i["rule"] if not i["error"] else f"[error] {i['rule']}") for i in items])

    @group.command("check")
    def check(ctx: typer.Context, json_output: Annotated[bool, typer.Option("--json")] = False) -> None:
        """Parse and type-check every configured rule; exit 2 when any is wrong."""
        hub = cli_context(ctx).hub()
        checks = check_configured(hub.settings)
        wrong = [c for c in checks.values() if c.error is not None]
        if json_output:
            print_json({"ok": not wrong, "segments": [
                {"name": c.name, "rule": c.text, "ok": c.error is None, "error": _json_error(c.error)}
                for c in checks.values()]})
        else:
            for c in wrong:
                assert c.error is not None
                errors.print(f"segments.{c.name}: line {c.error.line}, column {c.error.column}: {c.error.reason}",
                             markup=False, highlight=False)
                errors.print(caret(c.error, c.text), markup=False, highlight=False)
            if not wrong:
                console.print(f"{len(checks)} segment rule{'s' if len(checks) != 1 else ''} OK")
        if wrong:
            raise typer.Exit(code=2)

    @group.command("refresh")
    def refresh(
        ctx: typer.Context,
        names: Annotated[Optional[list[str]], typer.Argument(help="Segments to refresh (default: all).")] = None,
        json_output: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Recompute membership, record entered/exited events and size history."""
        hub = cli_context(ctx).hub()
        total = len(names) if names else len(hub.settings.segments)
        with progress("refreshing segments", enabled=not json_output) as bar:
            task = bar.add_task("refreshing segments", total=total)
            results = refresh_segments(hub, names or None, progress=lambda _r: bar.advance(task))
        if json_output:
            print_json({"segments": [r.as_dict() for r in results]})
        else:
            print_table(None, ["segment", "size", "entered", "exited", "seconds", "error"], [
                (r.segment + (" (removed)" if r.removed else ""), r.size, f"+{r.entered}", f"-{r.exited}",
                 f"{r.seconds:.2f}", r.error or "") for r in results])
        if any(r.error for r in results):
            raise typer.Exit(code=2)

    @group.command("push")
    def push(
        ctx: typer.Context,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; call nothing.")] = False,
        destination: Annotated[
            Optional[list[str]], typer.Option("--destination", "-d", help="Only this instance.")
        ] = None,
        segment: Annotated[Optional[list[str]], typer.Option("--segment", "-s", help="Only this segment.")] = None,
        json_output: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Send each destination its difference since its last confirmed push."""
        hub = cli_context(ctx).hub()
        reports = push_segments(hub, destinations=destination or None, segments=segment or None, dry_run=dry_run)
        if json_output:
            print_json({"dry_run": dry_run, "pushes": [r.as_dict() for r in reports]})
        else:
            title = "plan (dry run: nothing was sent)" if dry_run else None
            print_table(title, ["destination", "segment", "added", "removed", "changed", "failed", "status"], [
                (r.destination, r.segment, f"+{r.added}", f"−{r.removed}", f"~{r.changed}", r.failed or "", r.status)
                for r in reports])
            for r in reports:
                for error in r.errors[:5]:
                    errors.print(f"{r.destination} {r.segment}: {error}", markup=False, highlight=False)
        if any(r.failed for r in reports):
            raise typer.Exit(code=1)

    app.add_typer(group, name="segments")
