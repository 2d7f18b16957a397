"""The ``crmhub`` command: the root app, its groups, and exit codes.

Exit codes: 0 success, 1 failure, 2 bad usage or bad configuration. Errors are one clear
message (with a hint where there is a fix), never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.exceptions import TyperException

from crmhub.core.cli import customers, db, importer, jobs, plugins_cmd, segments, sync, worker
from crmhub.core.cli.context import CliContext
from crmhub.core.cli.output import fail
from crmhub.core.errors import ConfigError, CrmhubError, InputError, NotFound
from crmhub.core.logging import configure_logging
from crmhub.core.plugins import load_plugins

HINTS = {
    "config": "check the key in config/crmhub.toml (documented in config/crmhub.example.toml) "
    "or the matching CRMHUB_ environment variable",
}


def build_app() -> typer.Typer:
    """The root typer app with the core groups and every plugin's commands."""
    app = typer.Typer(
        name="crmhub",
        help="crmhub: customer-data hub for online shops.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )

    @app.callback()
    def root(
        ctx: typer.Context,
        config: Annotated[
            Optional[Path], typer.Option("--config", "-c", help="Config file (default: $CRMHUB_CONFIG or config/crmhub.toml).")
        ] = None,
    ) -> None:
        """crmhub: sync storefronts and CRMs, score customers, push segments."""
        ctx.obj = CliContext(config=config)
        ctx.call_on_close(ctx.obj.close)

    plugins_cmd.register(app)
    db.register(app)
    importer.register(app)
    customers.register(app)
    segments.register(app)
    worker.register(app)
    jobs.register(app)
    sync.register(app)
    load_plugins().register_commands(app)
    return app


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    configure_logging()
    try:
        app = build_app()
        result = app(args=argv, standalone_mode=False)
        if isinstance(result, int):
            return result
    except ConfigError as exc:
        fail(f"bad configuration: {exc.message}", hint=HINTS["config"])
        return 2
    except NotFound as exc:
        fail(exc.message)
        return 1
    except InputError as exc:
        fail(exc.message)
        return 2
    except CrmhubError as exc:
        fail(exc.message)
        return 1
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        fail("aborted")
        return 1
    except TyperException as exc:  # usage errors: unknown command, bad option
        exc.show()  # type: ignore[attr-defined]
        return int(getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:
        fail("interrupted")
        return 1
    return 0


def entry_point() -> None:
    """Console-script entry point."""
    sys.exit(main())
