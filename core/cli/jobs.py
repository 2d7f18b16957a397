"""``crmhub jobs``: list jobs (dead letters with ``--status failed``) and retry them."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from crmhub.core.cli.context import cli_context
from crmhub.core.cli.output import console, print_json, print_table
from crmhub.core.jobs.admin import get_job, list_jobs, retry_failed, retry_job


def _short(text: str | None, width: int = 70) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def register(app: typer.Typer) -> None:
    """Add the ``jobs`` group."""
    group = typer.Typer(help="Jobs: list, show, retry dead letters.", invoke_without_command=True)

    @group.callback()
    def jobs(
        ctx: typer.Context,
        status: Annotated[
            Optional[str],
            typer.Option(
                "--status", help="pending, enqueued, running, succeeded or failed (dead letters)."
            ),
        ] = None,
        actor: Annotated[
            Optional[str], typer.Option("--job", help="Only jobs of this name (sync, webhook…).")
        ] = None,
        limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 50,
        cursor: Annotated[
            Optional[str], typer.Option("--cursor", help="next_cursor of the previous page.")
        ] = None,
        json_output: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """List jobs, newest first."""
        if ctx.invoked_subcommand is not None:
            return
        hub = cli_context(ctx).hub()
        with hub.transaction() as session:
            page = list_jobs(session, status=status, actor=actor, limit=limit, cursor=cursor)
        if json_output:
            print_json(page.model_dump(mode="json"))
            return
        print_table(
            None,
            ["id", "job", "status", "attempts", "created", "worker", "last error"],
            [
                (
                    j.id,
                    j.actor,
                    j.status,
                    f"{j.attempts}/{j.max_attempts}",
                    j.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    j.worker,
                    _short(j.last_error),
                )
                for j in page.items
            ],
        )
        if page.next_cursor:
            console.print(f"more: --cursor {page.next_cursor}")

    @group.command("show")
    def show(
        ctx: typer.Context,
        job_id: Annotated[int, typer.Argument(help="Job id.")],
        json_output: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Show one job with its arguments, result and full last error."""
        hub = cli_context(ctx).hub()
        with hub.transaction() as session:
            job = get_job(session, job_id)
        if json_output:
            print_json(job.model_dump(mode="json"))
            return
        for name, value in job.model_dump().items():
            console.print(f"[bold]{name}[/bold]: {value}", highlight=False, markup=True)

    @group.command("retry")
    def retry(
        ctx: typer.Context,
        job_id: Annotated[Optional[int], typer.Argument(help="A failed job's id.")] = None,
        all_failed: Annotated[
            bool, typer.Option("--all-failed", help="Retry every dead letter.")
        ] = False,
        json_output: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Run a dead letter (or all of them) again with a fresh set of attempts."""
        if (job_id is None) == (not all_failed):
            raise typer.BadParameter("give a job id or --all-failed")
        hub = cli_context(ctx).hub()
        with hub.transaction() as session:
            if all_failed:
                ids = retry_failed(session, hub.now())
            else:
                ids = [retry_job(session, job_id, hub.now()).id]  # type: ignore[arg-type]
        if json_output:
            print_json({"retried": ids})
        else:
            console.print(f"retrying {len(ids)} job(s): {', '.join(map(str, ids)) or 'none'}")

    app.add_typer(group, name="jobs")
