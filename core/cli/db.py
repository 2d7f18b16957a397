"""``crmhub db upgrade``: apply database migrations."""

from __future__ import annotations

from typing import Annotated

import typer

from crmhub.core.cli.context import cli_context
from crmhub.core.cli.output import console, print_json


def register(app: typer.Typer) -> None:
    """Add the ``db`` group."""
    group = typer.Typer(help="Database migrations.", no_args_is_help=True)

    @group.command("upgrade")
    def upgrade(ctx: typer.Context, json_output: Annotated[bool, typer.Option("--json")] = False) -> None:
        """Upgrade the database to the newest schema (core and plugins)."""
        hub = cli_context(ctx).hub(migrate_embedded=False)
        applied = hub.upgrade_database()
        if json_output:
            print_json({"applied": applied, "database": hub.dialect})
        elif applied:
            console.print(f"upgraded {hub.dialect} database: {', '.join(applied)}")
        else:
            console.print(f"{hub.dialect} database is up to date")

    app.add_typer(group, name="db")
