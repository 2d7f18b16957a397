"""The shared incremental cursor: an updated-at high-water mark with a lookback window,
plus the token to resume an interrupted run."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field, field_validator

from crmhub.core.records import utc


class IncrementalState(BaseModel):
    """Cursor of an updated-at based stream.

    - ``since``: every record updated before it was read by a completed run.
    - ``run_since``: the lower bound the current (possibly interrupted) run started from.
    - ``max_seen``: the newest ``updated_at`` seen by the current run so far.
    - ``resume``: the source's page token to continue the current run (``None`` between runs).

    The boundary is inclusive and re-read with a lookback window; ingestion is idempotent,
    so records seen twice change nothing. Subclasses may add typed fields: every method
    returns a copy of the same class with them kept.
    """

    since: datetime | None = None
    run_since: datetime | None = None
    max_seen: datetime | None = None
    resume: dict[str, Any] | None = Field(default=None, description="Source page token")
    extra: dict[str, Any] = Field(default_factory=dict, description="Stream-specific data")

    @field_validator("since", "run_since", "max_seen")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return utc(value) if value is not None else None

    def start(self, *, lookback: timedelta, full: bool) -> IncrementalState:
        """The state at the start of a run: resume an interrupted run, or open a new one
        from ``since - lookback`` (or from the beginning when ``full``)."""
        if self.resume is not None and not full:
            return self
        run_since = None if full or self.since is None else self.since - lookback
        return self.model_copy(update={"run_since": run_since, "max_seen": None, "resume": None})

    def advance(self, *, seen: datetime | None, resume: dict[str, Any] | None) -> IncrementalState:
        """The state after a page: remember the newest update seen and where to resume."""
        newest = self.max_seen
        if seen is not None and (newest is None or utc(seen) > newest):
            newest = utc(seen)
        return self.model_copy(update={"max_seen": newest, "resume": resume})

    def complete(self) -> IncrementalState:
        """The state after the last page: ``since`` moves to the newest update seen."""
        since = self.since
        if self.max_seen is not None and (since is None or self.max_seen > since):
            since = self.max_seen
        return self.model_copy(
            update={"since": since, "run_since": None, "max_seen": None, "resume": None}
        )
