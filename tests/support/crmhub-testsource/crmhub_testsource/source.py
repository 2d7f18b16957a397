"""The ``customers`` stream: a JSON-lines file read like a paginated remote API."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import Field

from crmhub.core.errors import TransientRemoteError
from crmhub.core.instances import InstanceSettings
from crmhub.core.records import CustomerRecord, utc
from crmhub.core.sources import IncrementalState, Page, Stream


class TestSourceSettings(InstanceSettings):
    """Settings of a testsource instance."""

    data_file: str = Field(
        description="JSON-lines file of customers: id, email, first_name, updated_at."
    )
    page_size: int = Field(default=100, ge=1, description="Records per page.")
    page_delay: float = Field(
        default=0.0, ge=0, description="Seconds each page takes to 'download'."
    )
    fail_file: str | None = Field(
        default=None, description="While this file exists the remote is down."
    )
    hidden_ids: list[str] = Field(
        default_factory=list,
        description="Records the remote counts in its total but never returns.",
    )
    webhook_secret: str = Field(default="testsource-secret", description="HMAC key of webhooks.")


def check_remote(settings: TestSourceSettings) -> None:
    """Raise a transient error while the fail file exists."""
    if settings.fail_file and os.path.exists(settings.fail_file):
        raise TransientRemoteError("testsource remote is unavailable (503)", retry_after=None)


def to_record(instance: str, raw: dict[str, Any]) -> CustomerRecord:
    """One remote customer as a canonical record."""
    return CustomerRecord(
        instance=instance,
        external_id=str(raw["id"]),
        email=raw.get("email"),
        first_name=raw.get("first_name"),
        last_name=raw.get("last_name"),
        source_updated_at=datetime.fromisoformat(raw["updated_at"]),
        deleted=bool(raw.get("deleted", False)),
    )


class _File:
    """The data file, parsed once per change."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int] | None = None
        self._rows: list[dict[str, Any]] = []

    def rows(self) -> list[dict[str, Any]]:
        stat = self.path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            rows = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
            for row in rows:
                row["_at"] = utc(datetime.fromisoformat(row["updated_at"]))
            rows.sort(key=lambda r: (r["_at"], int(r["id"])))
            self._rows, self._stamp = rows, stamp
        return self._rows


class CustomersStream(Stream[IncrementalState]):
    """Customers ordered by (updated_at, id); the cursor is the newest updated_at read, a
    run resumes after the last (updated_at, id) it committed."""

    name = "customers"
    state_model = IncrementalState

    def __init__(self, instance: str, settings: TestSourceSettings) -> None:
        self.instance = instance
        self.settings = settings
        self.file = _File(settings.data_file)

    def read(
        self, state: IncrementalState | None, *, full: bool
    ) -> Iterator[Page[IncrementalState]]:
        state = (state or IncrementalState()).start(lookback=self.lookback, full=full)
        hidden = set(self.settings.hidden_ids)
        while True:
            check_remote(self.settings)
            rows = self.file.rows()
            after = None
            if state.resume:
                at, last_id = state.resume["after"]
                after = (utc(datetime.fromisoformat(at)), int(last_id))
            chosen = [
                r
                for r in rows
                if (state.run_since is None or r["_at"] >= state.run_since)
                and (after is None or (r["_at"], int(r["id"])) > after)
            ]
            page, more = chosen[: self.settings.page_size], len(chosen) > self.settings.page_size
            if self.settings.page_delay:
                time.sleep(self.settings.page_delay)
            if not page:
                return
            last = page[-1]
            state = state.advance(
                seen=max(r["_at"] for r in page),
                resume={"after": [last["_at"].isoformat(), str(last["id"])]} if more else None,
            )
            records = [to_record(self.instance, r) for r in page if str(r["id"]) not in hidden]
            yield Page(records=records, state=state, expected_total=len(rows))
            if not more:
                return

    def finish(self, state: IncrementalState) -> IncrementalState:
        """Move ``since`` to the newest update read."""
        return state.complete()
