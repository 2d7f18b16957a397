"""``crmhub worker``: Dramatiq worker processes on the configured Redis broker."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.markup import escape

from crmhub.core.cli.context import cli_context
from crmhub.core.cli.output import fail
from crmhub.core.jobs.broker import is_embedded
from crmhub.core.logging import configure_logging
from crmhub.core.settings import resolve_config_path


def register(app: typer.Typer) -> None:
    """Add the ``worker`` command."""

    @app.command("worker")
    def worker(
        ctx: typer.Context,
        processes: Annotated[
            Optional[int],
            typer.Option(
                "--processes",
                "-p",
                min=0,
                help="Worker processes (default [hub] worker_processes).",
            ),
        ] = None,
        threads: Annotated[
            Optional[int],
            typer.Option(
                "--threads", "-t", min=1, help="Threads per process (default [hub] worker_threads)."
            ),
        ] = None,
    ) -> None:
        """Run jobs: worker processes on the Redis broker plus the scheduler (only one
        scheduler is active however many workers run). Stops cleanly on SIGTERM/SIGINT."""
        from crmhub.core.jobs.process import run_workers

        context = cli_context(ctx)
        settings = context.settings()
        if is_embedded(settings):
            fail(
                'hub.broker_url is "": the embedded broker runs inside crmhub serve',
                hint=escape(
                    'set [hub] broker_url = "redis://127.0.0.1:6379/0" (or CRMHUB_HUB__BROKER_URL) '
                    "to run separate workers"
                ),
            )
            raise typer.Exit(2)
        configure_logging(settings.hub.log_level, settings.hub.log_format)
        hub = context.hub()
        code = run_workers(
            hub,
            config=resolve_config_path(context.config),
            processes=settings.hub.worker_processes if processes is None else processes,
            threads=threads or settings.hub.worker_threads,
        )
        raise typer.Exit(code)
