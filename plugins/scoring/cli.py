"""``crmhub score [--as-of DATE] [--instance I] [--json]`` and ``crmhub score rebuild-stats``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from crmhub.core.cli.context import cli_context
from crmhub.core.cli.output import console, print_json, print_table, progress
from crmhub.core.errors import InputError, NotFound

if TYPE_CHECKING:
    from crmhub.core.hub import Hub
    from crmhub.core.instances import Instance

PARAMETER_ORDER = ("r", "alpha", "a", "b", "s", "beta", "p", "q", "gamma")


def scorer_instance(hub: Hub, name: str | None) -> Instance[Any]:
    """The instance to run: ``name``, else ``scoring.main``, else the only scorer instance.

    :raises NotFound: no such instance, or no scorer configured.
    :raises InputError: several scorers and none chosen.
    """
    if name:
        return hub.instance(name)
    scorers = [i for i in hub.enabled_instances() if hub.plugins.implements(i.plugin, "crmhub_score_customers")]
    if not scorers:
        raise NotFound("no scorer instance is configured: add a [plugins.scoring.main] table to the configuration")
    chosen = next((i for i in scorers if i.id == "scoring.main"), scorers[0] if len(scorers) == 1 else None)
    if chosen is None:
        raise InputError(f"several scorer instances ({', '.join(i.id for i in scorers)}): choose one with --instance")
    return chosen


def _print_summary(summary: dict[str, Any], seconds: float) -> None:
    used = summary.get("model_used")
    console.print(
        f"scored {summary['customers_scored']:,} customers as of {summary['as_of']} "
        f"({summary.get('inputs_from', '?')}; model {used}; {seconds:.1f} s)"
    )
    if summary.get("fallback_reason"):
        console.print(f"[yellow]heuristics used:[/yellow] {summary['fallback_reason']}")
    segments = summary.get("segments") or {}
    total = max(sum(segments.values()), 1)
    print_table("RFM segments", ["segment", "customers", "share"],
                [(name, f"{count:,}", f"{count / total:.1%}") for name, count in
                 sorted(segments.items(), key=lambda item: -item[1])])
    rows = []
    for model, fit in (summary.get("models") or {}).items():
        params = ", ".join(f"{k}={fit[k]:.4g}" for k in PARAMETER_ORDER if k in fit)
        rows.append((model, params, f"{fit['log_likelihood']:.2f}", "yes" if fit["converged"] else "no"))
    if rows:
        print_table(f"Models (time unit: {summary['time_unit']})",
                    ["model", "parameters", "log-likelihood", "converged"], rows)


def register(app: typer.Typer) -> None:
    """Add the ``score`` command group."""
    group = typer.Typer(help="Score customers: RFM, purchase models, CLV, churn risk, health.")

    @group.callback(invoke_without_command=True)
    def score(
        ctx: typer.Context,
        as_of: Annotated[Optional[str], typer.Option(
            "--as-of", help="Score as of the end of this day (YYYY-MM-DD, UTC); later orders are ignored.")] = None,
        instance: Annotated[Optional[str], typer.Option(
            "--instance", help="Scorer instance (default scoring.main).")] = None,
        json_output: Annotated[bool, typer.Option("--json", help="Print the run summary as JSON.")] = False,
    ) -> None:
        """Score every customer now (or as of a past day) and print segment counts and models."""
        if ctx.invoked_subcommand is not None:
            return
        from crmhub.plugins.scoring.run import parse_as_of, score_instance

        hub = cli_context(ctx).hub()
        target = scorer_instance(hub, instance)
        moment = parse_as_of(as_of, hub.now())
        started = time.perf_counter()
        with progress(f"scoring ({target.id})", enabled=not json_output) as bar:
            task = bar.add_task("loading", total=None)

            def report(stage: str, done: int, total: int) -> None:
                if stage == "write":
                    bar.update(task, description="writing scores", total=total, advance=done)
                else:
                    bar.update(task, description={"load": "loading", "fit": "fitting and scoring"}.get(stage, stage))

            if target.plugin == "scoring":
                summary = score_instance(hub, target, moment, progress=report)
            else:
                summary = hub.plugins.score_customers(hub, target, moment) or {}
        if json_output:
            print_json(summary)
        else:
            _print_summary(summary, time.perf_counter() - started)

    @group.command("rebuild-stats")
    def rebuild_stats(
        ctx: typer.Context,
        json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    ) -> None:
        """Recompute every customer's order statistics from scratch (set-based; gives the
        numbers the incremental refresh keeps)."""
        from crmhub.core.ingest.stats import rebuild_all_stats

        hub = cli_context(ctx).hub()
        started = time.perf_counter()
        with progress("rebuilding statistics", enabled=not json_output) as bar:
            task = bar.add_task("rebuilding statistics", total=None)
            written = rebuild_all_stats(hub.sessions, hub.now(), progress=lambda n: bar.update(task, total=n, completed=n))
        seconds = time.perf_counter() - started
        if json_output:
            print_json({"customers": written, "seconds": round(seconds, 3)})
        else:
            console.print(f"statistics rebuilt for {written:,} customers in {seconds:.1f} s")

    app.add_typer(group, name="score")
