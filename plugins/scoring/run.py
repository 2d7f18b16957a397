"""One scoring run: read, fit, score, explain, write, and record it.

::

    score_run (status running) ─► load summary + activity (one read transaction)
      ─► fit or fall back ─► RFM, P(alive), purchases, CLV, churn, health
      ─► write customer_score + score_history + score_run (one write transaction)

A failed run is recorded as ``failed`` with its message and leaves the previous scores in
place. Running it again with the same ``as_of`` gives the same scores (history under
the ``changes`` policy gains nothing), which is what makes the job idempotent.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, time, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, text, update

from crmhub.core.errors import InputError
from crmhub.core.models import CustomerScore, ScoreRun
from crmhub.core.records import utc
from crmhub.plugins.scoring.activity import load_activity
from crmhub.plugins.scoring.compute import Scores, compute_scores
from crmhub.plugins.scoring.data import load_inputs
from crmhub.plugins.scoring.settings import ScoringSettings
from crmhub.plugins.scoring.timing import Timings
from crmhub.plugins.scoring.write import write_scores

if TYPE_CHECKING:
    from crmhub.core.hub import Hub
    from crmhub.core.instances import Instance

log = logging.getLogger("crmhub.scoring")
RUN = ScoreRun.__table__
#: ``progress(stage, done, total)``: stage is load, fit, write or done.
Progress = Callable[[str, int, int], None]


def _start(hub: Hub, instance: Instance[Any], as_of: datetime) -> int:
    with hub.transaction() as session:
        run = ScoreRun(instance=instance.id, as_of=as_of, started_at=hub.now(), status="running",
                       time_unit=instance.settings.time_unit)
        session.add(run)
        session.flush()
        return int(run.id or 0)


def _details(scores: Scores | None, source: str, history_rows: int, timer: Timings) -> dict[str, Any]:
    if scores is None:
        return {"inputs_from": source, "model_used": None, "history_rows": 0, "timings": timer.as_dict()}
    fitted = scores.fitted
    return {
        "inputs_from": source,
        "model_used": fitted.model,
        "fallback_reason": fitted.reason,
        "spend_model": "gamma_gamma" if fitted.spend is not None else "own mean repeat spend",
        "spend_fallback_reason": fitted.spend_reason,
        "repeat_buyers": int((scores.inputs.x > 0).sum()),
        "segments": dict(sorted(Counter(scores.segment.tolist()).items())),
        "tiers": dict(sorted(Counter(scores.tier.tolist()).items())),
        "health_bands": dict(sorted(Counter(scores.health.band.tolist()).items())),
        "history_rows": history_rows,
        "timings": timer.as_dict(),
    }


def score_instance(
    hub: Hub, instance: Instance[Any], as_of: datetime, *, progress: Progress | None = None
) -> dict[str, Any]:
    """Score every active customer with orders as of ``as_of``; returns the run summary
    (SPEC §10: ``as_of``, ``customers_scored``, ``time_unit``, ``models`` and more)."""
    settings: ScoringSettings = instance.settings
    report = progress or (lambda stage, done, total: None)
    timer = Timings()
    run_id = _start(hub, instance, as_of)
    try:
        report("load", 0, 0)
        with hub.transaction() as session:
            if hub.dialect == "postgresql":  # one snapshot for every read; groupings in memory
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
                session.execute(text("SET LOCAL work_mem = '128MB'"))
            with timer.section("load"):
                inputs = load_inputs(session, as_of)
            with timer.section("load activity"):
                activity = load_activity(
                    session, inputs.customer_id, as_of, trend_days=settings.days("trend_window") or 90,
                    engagement_days=settings.days("engagement_window") or 180,
                    lookback_days=settings.days("rfm_lookback"),
                )
        n = len(inputs)
        scores = None
        report("fit", 0, n)
        if n:
            scores = compute_scores(inputs, activity, settings, timer=timer)
        report("write", 0, n)
        with hub.transaction() as session:
            if scores is None:
                session.execute(delete(CustomerScore.__table__))
                history_rows = 0
            else:
                history_rows = write_scores(
                    session, scores, run_id=run_id, scored_at=hub.now(), history=settings.history,
                    timer=timer, progress=lambda k: report("write", k, n),
                )
            models = scores.fitted.summary() if scores is not None else {}
            details = _details(scores, inputs.source, history_rows, timer)
            session.execute(update(RUN).where(RUN.c.id == run_id).values(
                status="succeeded", finished_at=hub.now(), customers_scored=n, models=models,
                details=details, message=details.get("fallback_reason"),
            ))
    except Exception as exc:
        with hub.transaction() as session:
            session.execute(update(RUN).where(RUN.c.id == run_id).values(
                status="failed", finished_at=hub.now(), message=f"{type(exc).__name__}: {exc}"[:2000],
            ))
        log.exception("scoring run %s of %s failed", run_id, instance.id)
        raise
    report("done", n, n)
    summary = {
        "instance": instance.id, "run_id": run_id, "as_of": as_of.isoformat(),
        "customers_scored": n, "time_unit": settings.time_unit, "models": models, **details,
    }
    log.info("scoring run %s of %s: %s customers scored", run_id, instance.id, n,
             extra={"run_id": run_id, "model_used": details["model_used"]})
    return summary


def parse_as_of(value: str | None, now: datetime) -> datetime:
    """``as_of`` from the command line or a job: a date means the end of that day (UTC), a
    date-time is taken as given (UTC when naive), nothing means ``now``.

    :raises InputError: neither a date nor a date-time.
    """
    if not value:
        return now
    try:
        if len(value.strip()) == 10:
            day = date.fromisoformat(value.strip())
            return datetime.combine(day, time.max, tzinfo=timezone.utc)
        return utc(datetime.fromisoformat(value.strip()))
    except ValueError:
        raise InputError(f"--as-of {value!r} is not a date (YYYY-MM-DD) or an ISO 8601 date-time") from None
