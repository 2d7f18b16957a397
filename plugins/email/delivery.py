"""The send loop: due rows → eligibility → render → claim → SMTP → verdict.

For each due row (``queued``, or ``deferred`` whose retry time came), in id order:

1. customers who can no longer be mailed are ``skipped`` (no consent, suppressed,
   erased, no address); a template that fails for the customer makes the row ``failed``
   — unless no message of the pass rendered yet: then the pass stops with the error and
   every row stays due, so a broken template never fails a whole campaign;
2. the message is rendered and the intent is **committed** (``sending``) before the
   message is handed to the SMTP server — see :func:`.outcomes.claim`; the sending rate
   is respected;
3. the server's answer is recorded: ``sent``, ``bounced`` (5xx, address suppressed),
   ``deferred`` (4xx, retried with back-off until ``max_attempts``, then ``failed``).

The claim is one autocommitted statement per message; verdicts are recorded in batches
(every :data:`VERDICT_BATCH` answers or :data:`VERDICT_SECONDS`, at the end of each chunk,
at the end of the pass and on any error).

At most once: a row found in ``sending`` — the worker died between the claim and the
verdict, or the connection broke during DATA — is never sent again, because the message
may have arrived. Losing an email is preferred to sending one twice: a worker killed
mid-campaign costs at most one customer their email (the message in flight). Its
answered-but-unrecorded verdicts (at most one batch) also stay in ``sending``: those
messages were handed over and are not resent either; they count as ``unknown`` in the
report. When the server is unavailable before a message was handed over, its claim is
released and the loop stops with :class:`~.smtp.SmtpUnavailable` (retried later).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from crmhub.core.errors import NotFound
from crmhub.core.http import TokenBucket, rate_limiter
from crmhub.plugins.email import outcomes
from crmhub.plugins.email.audience import eligibility
from crmhub.plugins.email.compose import UnusableAddress
from crmhub.plugins.email.context import Recommender, load_contexts
from crmhub.plugins.email.models import DUE, EmailSend
from crmhub.plugins.email.outcomes import Answer
from crmhub.plugins.email.runtime import EmailRuntime
from crmhub.plugins.email.smtp import SmtpRejected, SmtpSender, SmtpUnavailable
from crmhub.plugins.email.templates import TemplateRenderError

if TYPE_CHECKING:
    from crmhub.core.hub import Hub

log = logging.getLogger("crmhub.email")
SEND = EmailSend.__table__
CHUNK = 200
#: Verdicts are recorded at least every this many answers …
VERDICT_BATCH = 50
#: … and at least this often (seconds).
VERDICT_SECONDS = 1.0


@dataclass
class Delivery:
    """Counts of one pass of the loop."""

    statuses: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    next_due: datetime | None = None

    def count(self, status: str, reason: str | None = None) -> None:
        """Count one row's new status (and the reason it was skipped)."""
        self.statuses[status] += 1
        if status == "skipped" and reason:
            self.skipped[reason] += 1

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready counts."""
        return {**{k: self.statuses.get(k, 0) for k in ("sent", "bounced", "deferred", "failed", "sending")},
                "skipped": dict(sorted(self.skipped.items())),
                "next_due": self.next_due.isoformat() if self.next_due else None}


class Deliverer:
    """Delivers the due rows of one email instance."""

    def __init__(self, hub: Hub, rt: EmailRuntime, *, run_id: int | None = None) -> None:
        self.hub = hub
        self.rt = rt
        self.run_id = run_id
        self._rendered = False
        self._answers: list[Answer] = []
        self._oldest = 0.0
        rate = rt.settings.rate_per_second
        self.limiter = rate_limiter(hub, f"smtp:{rt.settings.smtp_host}:{rt.settings.smtp_port}",
                                    {"send": TokenBucket(max(1.0, rate), rate)}) if rate > 0 else None

    def _due(self, after: int, kind: str | None, name: str | None) -> list[Any]:
        statement = select(SEND).where(SEND.c.instance == self.rt.id, SEND.c.status.in_(DUE),
                                       SEND.c.due_at <= self.hub.now(), SEND.c.id > after)
        if kind is not None:
            statement = statement.where(SEND.c.kind == kind)
        if name is not None:
            statement = statement.where(SEND.c.name == name)
        with self.hub.transaction() as session:
            return list(session.execute(statement.order_by(SEND.c.id).limit(CHUNK)))

    def run(
        self, *, kind: str | None = None, name: str | None = None, progress: Callable[[int], None] | None = None,
    ) -> Delivery:
        """Deliver every row that is due now (optionally of one campaign or flow).

        :raises SmtpUnavailable: the server could not take mail; the rest stays due.
        :raises SmtpRejected: the server refuses the sender or the login.
        :raises TemplateRenderError: the first message of the pass did not render.
        """
        result = Delivery()
        recommender = Recommender(self.hub.sessions, now=self.hub.now(), count=self.rt.settings.recommendations)
        smtp = SmtpSender(self.rt.settings, key=self.rt.id)
        # claims, releases and skips are single statements, each committed at once
        with self.hub.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as claims:
            try:
                after = 0
                while rows := self._due(after, kind, name):
                    after = rows[-1].id
                    ids = [row.customer_id for row in rows]
                    with self.hub.transaction() as session:
                        contexts = load_contexts(session, ids, recommender)
                        checks = eligibility(session, ids)
                    for row in rows:
                        self._one(claims, row, contexts.get(row.customer_id), checks.get(row.customer_id), smtp,
                                  result)
                        if progress is not None:
                            progress(1)
                    self._record(result)
            finally:
                smtp.close()
                self._record(result, quiet=True)
        with self.hub.transaction() as session:
            result.next_due = outcomes.next_due(session, self.rt.id, self.hub.now())
        return result

    def _one(
        self, claims: Any, row: Any, context: dict[str, Any] | None, check: Any, smtp: SmtpSender, result: Delivery,
    ) -> None:
        reason, digest = check if check is not None else ("unknown_customer", None)
        if reason is None and context is None:
            reason = "unknown_customer"
        try:
            step = self.rt.step(row.kind, row.name)
        except NotFound:
            reason = reason or "step_removed"
        if reason is not None:
            self._settle(claims, row, "skipped", reason, result)
            return
        try:
            composed = self.rt.composer.compose(
                template=self.rt.templates.get(step.template), context=context or {}, send_id=row.id,
                kind=row.kind, name=row.name, step=step, now=self.hub.now(),
            )
        except TemplateRenderError as exc:
            if not self._rendered:  # a template broken for everyone must not fail a whole campaign
                raise
            self._settle(claims, row, "failed", exc.message, result)
            return
        except UnusableAddress as exc:
            self._settle(claims, row, "failed", exc.message, result)
            return
        self._rendered = True
        if not outcomes.claim(claims, row, composed, digest, run_id=self.run_id, now=self.hub.now()):
            self._settle(claims, row, "skipped", "no_longer_eligible", result)
            return
        if self.limiter is not None:
            self.limiter.acquire()
        try:
            outcome = smtp.send(composed.sender, composed.recipient, composed.data)
        except (SmtpUnavailable, SmtpRejected):
            outcomes.release(claims, row)  # nothing was handed over
            raise
        finally:
            if self.limiter is not None:
                self.limiter.settle()
        if not self._answers:
            self._oldest = time.monotonic()
        self._answers.append(Answer(row, composed.recipient, outcome, self.hub.now()))
        if len(self._answers) >= VERDICT_BATCH or time.monotonic() - self._oldest >= VERDICT_SECONDS:
            self._record(result)

    def _settle(self, claims: Any, row: Any, status: str, reason: str, result: Delivery) -> None:
        if outcomes.settle(claims, row.id, status, reason):
            result.count(status, reason)

    def _record(self, result: Delivery, *, quiet: bool = False) -> None:
        """Record the verdicts answered so far in one transaction."""
        if not self._answers:
            return
        try:
            with self.hub.engine.begin() as connection:
                statuses = outcomes.record(connection, self._answers, settings=self.rt.settings, instance=self.rt.id)
        except Exception:
            if not quiet:
                raise
            # after another error that one matters more; these rows stay in "sending"
            log.exception("%s: could not record %d SMTP answers", self.rt.id, len(self._answers))
            return
        finally:
            self._answers = []
        for status in statuses:
            result.count(status)
