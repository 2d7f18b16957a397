"""``crmhub sync PLUGIN.INSTANCE [--stream S] [--full]``: sync now, with a progress bar."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from crmhub.core.cli.context import cli_context
from crmhub.core.cli.output import fail, print_json, print_table, progress
from crmhub.core.models import SyncRun
from crmhub.core.sync import SyncBusy, SyncFailed, SyncProgress, run_sync

FIELDS = (
    "stream",
    "status",
    "records_read",
    "created",
    "updated",
    "unchanged",
    "deleted",
    "skipped",
    "expected_total",
    "actual_total",
    "message",
)


def _summary(run: SyncRun) -> dict[str, Any]:
    data = run.model_dump(mode="json")
    return {
        "id": run.id,
        "instance": run.instance,
        **{name: data.get(name) for name in FIELDS},
        "started_at": data["started_at"],
        "finished_at": data["finished_at"],
        "errors": data["errors"],
    }


def register(app: typer.Typer) -> None:
    """Add the ``sync`` command."""

    @app.command("sync")
    def sync(
        ctx: typer.Context,
        instance: Annotated[str, typer.Argument(help="The instance, e.g. shopify.main.")],
        stream: Annotated[
            Optional[str], typer.Option("--stream", help="Only this stream (default: all).")
        ] = None,
        full: Annotated[
            bool, typer.Option("--full", help="Read everything again, not just what changed.")
        ] = False,
        json_output: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Sync an instance now and print what it did. Exits 1 when a stream failed or
        another sync of it is running."""
        hub = cli_context(ctx).hub()
        tasks: dict[str, Any] = {}
        with progress(f"syncing {instance}", enabled=not json_output) as bar:

            def report(event: SyncProgress) -> None:
                if event.stream not in tasks:
                    tasks[event.stream] = bar.add_task(
                        f"{instance} {event.stream}", total=event.expected_total
                    )
                bar.update(
                    tasks[event.stream], completed=event.records_read, total=event.expected_total
                )

            failed = False
            try:
                runs = run_sync(hub, instance, stream=stream, full=full, progress=report)
            except SyncFailed as exc:
                runs, failed = exc.runs, True
            except SyncBusy as exc:
                fail(
                    exc.message, hint="wait for it to finish, or see `crmhub jobs --status running`"
                )
                raise typer.Exit(1) from None
        summaries = [_summary(run) for run in runs]
        if json_output:
            print_json({"instance": instance, "full": full, "runs": summaries})
        else:
            print_table(
                f"sync {instance}",
                ["stream", "status", "read", "created", "updated", "unchanged", "deleted", "gaps"],
                [
                    (
                        s["stream"],
                        s["status"],
                        s["records_read"],
                        s["created"],
                        s["updated"],
                        s["unchanged"],
                        s["deleted"],
                        s["message"] if s["status"] == "completed_with_gaps" else "",
                    )
                    for s in summaries
                ],
            )
            for s in summaries:
                if s["status"] == "failed":
                    fail(f"{s['stream']}: {s['message']}")
        if failed:
            raise typer.Exit(1)
