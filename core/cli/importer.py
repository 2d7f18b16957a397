"""``crmhub import FILE``: customers or orders from CSV or JSON lines."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from crmhub.core.cli.context import cli_context
from crmhub.core.cli.output import console, print_json, progress
from crmhub.core.importer import ImportStats, Kind, read_records, source_name, write_rejects
from crmhub.core.ingest import ingestor


def register(app: typer.Typer) -> None:
    """Add the ``import`` command."""

    @app.command("import")
    def import_file(
        ctx: typer.Context,
        file: Annotated[Path, typer.Argument(help="CSV with a header row, or JSON lines.")],
        kind: Annotated[Optional[str], typer.Option("--kind", help="customers or orders (default: detected).")] = None,
        source: Annotated[Optional[str], typer.Option("--source", help="Source name (default import.default).")] = None,
        rejects: Annotated[Optional[Path], typer.Option("--rejects", help="Where to write rejected rows (default FILE.rejects.csv).")] = None,
        json_output: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Import customers or orders. Bad rows go to a reject file with their line number
        and reason; good rows are imported; re-importing the same file changes nothing.
        Exits 1 when any row was rejected."""
        if kind not in (None, "customers", "orders"):
            raise typer.BadParameter("--kind must be customers or orders")
        hub = cli_context(ctx).hub()
        service = ingestor(hub)
        stats = ImportStats()
        instance = source_name(source)
        size = file.stat().st_size if file.exists() else 0
        with progress(f"importing {file.name}", enabled=not json_output) as bar:
            task = bar.add_task(f"importing {file.name}", total=None)
            batches = read_records(file, kind=kind, source=instance,  # type: ignore[arg-type]
                                   on_progress=lambda n: bar.advance(task, n))
            for records, rejected in batches:
                stats.rows += len(records) + len(rejected)
                stats.rejected += rejected
                if records:
                    result = service.ingest_and_commit(records, source=instance)
                    stats.created += result.created
                    stats.updated += result.updated
                    stats.unchanged += result.unchanged
                    stats.skipped += result.skipped
        reject_path = None
        if stats.rejected:
            reject_path = rejects or file.with_name(file.name + ".rejects.csv")
            write_rejects(reject_path, stats.rejected)
        report = {
            "file": str(file), "source": instance, "bytes": size, "rows": stats.rows,
            "created": stats.created, "updated": stats.updated, "unchanged": stats.unchanged,
            "skipped": stats.skipped, "rejected": len(stats.rejected),
            "rejects_file": str(reject_path) if reject_path else None,
        }
        if json_output:
            print_json(report)
        else:
            console.print(
                f"{stats.rows} rows: {stats.created} created, {stats.updated} updated, "
                f"{stats.unchanged} unchanged, {len(stats.rejected)} rejected"
            )
            for item in stats.rejected[:10]:
                console.print(f"  line {item.line}: {item.reason}")
            if reject_path:
                console.print(f"rejected rows written to {reject_path}")
        if stats.rejected:
            raise typer.Exit(1)
