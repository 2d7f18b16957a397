"""The shared incremental cursor keeps the fields a stream's own state adds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crmhub.core.sources import IncrementalState

T = datetime(2026, 1, 1, tzinfo=UTC)


class StreamState(IncrementalState):
    watched_at: datetime | None = None


def test_start_advance_and_complete_keep_subclass_fields():
    state = StreamState(since=T, watched_at=T - timedelta(hours=1))
    running = state.start(lookback=timedelta(minutes=10), full=False)
    assert type(running) is StreamState and running.run_since == T - timedelta(minutes=10)
    moved = running.advance(seen=T + timedelta(hours=1), resume={"page": 2})
    done = moved.complete()
    assert type(done) is StreamState and done.watched_at == T - timedelta(hours=1)
    assert (done.since, done.run_since, done.max_seen, done.resume) == (T + timedelta(hours=1), None, None, None)


def test_an_interrupted_run_resumes_and_full_starts_over():
    state = StreamState(since=T).start(lookback=timedelta(0), full=False).advance(seen=T, resume={"p": 3})
    assert state.start(lookback=timedelta(0), full=False) is state
    again = state.start(lookback=timedelta(0), full=True)
    assert (again.run_since, again.resume, again.max_seen) == (None, None, None)
