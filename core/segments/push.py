"""Push segment membership to destinations, sending each only its difference.

For every (destination, segment) pair — from the configuration, plus pairs that still
have confirmed state but left it (their members are removed) — the changes computed by
:mod:`crmhub.core.segments.diff` go to the destination in :class:`PushBatch` es of its
``batch_size``. Only customers the destination confirms get a :class:`PushState` row (or
lose it, for removals); failed ones are simply left for the next push, which retries
exactly them. Each real push of a pair with something to do records a :class:`PushRun`.
A dry run computes the same plan, records nothing and calls no destination.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from crmhub.core.destinations import Destination, PushBatch, PushResult
from crmhub.core.errors import NotFound, redact
from crmhub.core.models import PushRun, PushState
from crmhub.core.segments.diff import Change, changes

if TYPE_CHECKING:
    from crmhub.core.hub import Hub

STATE = PushState.__table__
RUN = PushRun.__table__
SAMPLE = 5
MAX_ERRORS = 100
COUNTERS = {"add": "added", "remove": "removed", "update": "changed"}


@dataclass
class PushReport:
    """The outcome (or, for a dry run, the plan) of one destination and segment.

    ``added``/``removed``/``changed`` count confirmed changes (planned ones in a dry run);
    ``status`` is succeeded, partial, failed, unchanged or dry_run."""

    destination: str
    segment: str
    dry_run: bool = False
    added: int = 0
    removed: int = 0
    changed: int = 0
    failed: int = 0
    batches: int = 0
    status: str = "unchanged"
    errors: list[dict[str, Any]] = field(default_factory=list)
    sample: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"add": [], "remove": [], "update": []})
    run_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


def push_pairs(
    hub: Hub, destinations: list[str] | None = None, segments: list[str] | None = None
) -> list[tuple[str, str, bool]]:
    """(destination, segment, configured) pairs to push, filtered by the arguments.

    :raises NotFound: a named destination or segment that is not configured.
    """
    for name in destinations or []:
        hub.instance(name)
    for name in segments or []:
        if name not in hub.settings.segments:
            raise NotFound(f"no segment named {name!r} in the configuration")
    pairs = {(d, name): True for name, cfg in hub.settings.segments.items() for d in cfg.destinations}
    with hub.transaction() as session:
        for destination, segment in session.execute(select(STATE.c.destination, STATE.c.segment).distinct()):
            pairs.setdefault((destination, segment), False)
    return [(d, s, configured) for (d, s), configured in sorted(pairs.items())
            if (destinations is None or d in destinations) and (segments is None or s in segments)
            and d in hub.instances and hub.instances[d].enabled]


def _record_confirmed(hub: Hub, destination: str, segment: str, batch: list[Change], result: PushResult) -> None:
    now = hub.now()
    with hub.transaction() as session:
        removed = [c.item.customer_id for c in batch
                   if c.item.action == "remove" and c.item.customer_id in result.confirmed]
        if removed:
            session.execute(delete(STATE).where(STATE.c.destination == destination, STATE.c.segment == segment,
                                                STATE.c.customer_id.in_(removed)))
        rows = [{"destination": destination, "segment": segment, "customer_id": c.item.customer_id,
                 "pushed_hash": c.fingerprint, "remote_id": result.confirmed[c.item.customer_id] or c.item.remote_id,
                 "remote_key": c.item.email, "pushed_at": now}
                for c in batch if c.item.action != "remove" and c.item.customer_id in result.confirmed]
        if rows:
            module = postgresql if hub.dialect == "postgresql" else sqlite
            statement = module.insert(STATE)
            session.execute(statement.on_conflict_do_update(
                index_elements=["destination", "segment", "customer_id"],
                set_={name: statement.excluded[name]
                      for name in ("pushed_hash", "remote_id", "remote_key", "pushed_at")},
            ), rows)


def _send(hub: Hub, report: PushReport, target: Destination, batch: list[Change]) -> bool:
    """Hand one batch over; record what was confirmed. False when the destination raised."""
    report.batches += 1
    try:
        result = target.push(PushBatch(segment=report.segment, items=[c.item for c in batch]))
    except Exception as exc:  # any failure of a remote call leaves the batch for the next push
        report.failed += len(batch)
        report.errors.append({"batch": report.batches, "customers": len(batch),
                              "error": redact(f"{type(exc).__name__}: {exc}")})
        return False
    _record_confirmed(hub, report.destination, report.segment, batch, result)
    for change in batch:
        customer_id = change.item.customer_id
        if customer_id in result.confirmed:
            counter = COUNTERS[change.item.action]
            setattr(report, counter, getattr(report, counter) + 1)
        else:
            report.failed += 1
            if len(report.errors) < MAX_ERRORS:
                report.errors.append({"customer_id": customer_id, "action": change.item.action,
                                      "error": redact(result.failed.get(customer_id,
                                                                        "not confirmed by the destination"))})
    return True


def _plan(report: PushReport, found: list[Change]) -> None:
    for change in found:
        counter = COUNTERS[change.item.action]
        setattr(report, counter, getattr(report, counter) + 1)
        sample = report.sample[change.item.action]
        if len(sample) < SAMPLE:
            sample.append({"customer_id": change.item.customer_id, "email": change.item.email,
                           "remote_id": change.item.remote_id})


def push_pair(
    hub: Hub, destination: str, segment: str, *, configured: bool = True, dry_run: bool = False
) -> PushReport:
    """Push one segment's difference to one destination (or plan it, for a dry run)."""
    report = PushReport(destination=destination, segment=segment, dry_run=dry_run)
    target = hub.plugins.destination(hub, hub.instance(destination))
    if target is None:
        raise NotFound(f"instance {destination!r} is not a destination (its plugin cannot receive segments)")
    pending: list[Change] = []
    started = hub.now()
    ok = True
    for found in changes(hub.sessions, destination, target, segment, configured=configured):
        if dry_run:
            _plan(report, found)
            continue
        pending.extend(found)
        while ok and len(pending) >= target.batch_size:
            batch, pending = pending[: target.batch_size], pending[target.batch_size :]
            ok = _send(hub, report, target, batch)
        if not ok:
            break
    if dry_run:
        report.status = "dry_run"
        return report
    if ok and pending:
        _send(hub, report, target, pending)
    if report.batches == 0:
        return report
    confirmed = report.added + report.removed + report.changed
    report.status = "succeeded" if not report.failed else "partial" if confirmed else "failed"
    with hub.transaction() as session:
        report.run_id = int(session.execute(insert(RUN).returning(RUN.c.id), {
            "destination": destination, "segment": segment, "started_at": started, "finished_at": hub.now(),
            "status": report.status, "dry_run": False, "added": report.added, "removed": report.removed,
            "changed": report.changed, "failed": report.failed, "errors": report.errors[:MAX_ERRORS],
        }).scalar_one())
    return report


def push_segments(
    hub: Hub, *, destinations: list[str] | None = None, segments: list[str] | None = None, dry_run: bool = False,
) -> list[PushReport]:
    """Push every configured segment to its destinations (or only the named ones).

    :param dry_run: compute the plan (+added / −removed / ~changed, with a sample) and
        call nothing.
    :returns: one report per destination and segment.
    :raises NotFound: unknown destination or segment, or an instance that is no destination.
    """
    return [push_pair(hub, d, s, configured=configured, dry_run=dry_run)
            for d, s, configured in push_pairs(hub, destinations, segments)]


__all__ = ["PushReport", "push_pair", "push_pairs", "push_segments"]
