"""An id-ordered record store for the fake APIs, built for serving big pages fast.

Records are kept serialised (compact JSON bytes), so a 250-record page is one ``b",".join``
and 200,000 orders cost their JSON size in memory rather than a tree of dicts. Next to
each record sits a small *meta* object (timestamps as epoch seconds, status flags) that
list filters test without parsing JSON. Ids stay sorted; a page starts with a bisect and
walks forward (or backward) only as far as it needs to fill the page.
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

__all__ = ["RecordTable"]

M = TypeVar("M")


class RecordTable(Generic[M]):
    """Records by integer id: sorted ids, JSON bytes and filter metadata.

    Not locked itself: the owning fake holds its lock around every call.
    """

    def __init__(self) -> None:
        self.ids: list[int] = []
        self._body: dict[int, bytes] = {}
        self.meta: dict[int, M] = {}
        self.version = 0

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, rid: object) -> bool:
        return rid in self._body

    def put(
        self,
        rid: int,
        record: dict[str, Any] | bytes,
        meta: M,
        fragments: dict[str, bytes] | None = None,
    ) -> None:
        """Insert or replace record ``rid`` (a dict is serialised now).

        ``fragments`` maps top-level keys of ``record`` to their JSON, already serialised
        (e.g. an address shared by many orders), which is spliced in instead of encoded again.
        """
        if rid not in self._body:
            if not self.ids or rid > self.ids[-1]:
                self.ids.append(rid)
            else:
                insort(self.ids, rid)
        if isinstance(record, bytes):
            self._body[rid] = record
        elif fragments:
            rest = _dump({k: v for k, v in record.items() if k not in fragments})
            spliced = b",".join(b'"' + k.encode() + b'":' + v for k, v in fragments.items())
            self._body[rid] = rest[:-1] + (b"," if len(rest) > 2 else b"") + spliced + b"}"
        else:
            self._body[rid] = _dump(record)
        self.meta[rid] = meta
        self.version += 1

    def remove(self, rid: int) -> None:
        """Delete record ``rid`` (KeyError when missing)."""
        del self._body[rid]
        del self.meta[rid]
        self.ids.pop(bisect_left(self.ids, rid))
        self.version += 1

    def get(self, rid: int) -> dict[str, Any]:
        """A fresh dict copy of record ``rid`` (KeyError when missing)."""
        return json.loads(self._body[rid])

    def raw(self, rid: int) -> bytes:
        """The serialised record ``rid``."""
        return self._body[rid]

    def join(self, rids: Sequence[int]) -> bytes:
        """The records ``rids`` as the inside of a JSON array (``b'{..},{..}'``)."""
        body = self._body
        return b",".join([body[r] for r in rids])

    def scan(
        self,
        *,
        after: int | None = None,
        before: int | None = None,
        match: Callable[[int], bool] | None = None,
        limit: int,
        candidates: Sequence[int] | None = None,
    ) -> list[int]:
        """Up to ``limit`` matching ids in ascending order.

        With ``before`` the walk goes backward from just below ``before`` and returns the
        ``limit`` closest matches (still in ascending order); otherwise it goes forward
        from just above ``after`` (or from the start).
        """
        ids = self.ids if candidates is None else candidates
        if before is not None:
            i = bisect_left(ids, before) - 1
            if match is None:
                return list(ids[max(0, i - limit + 1) : i + 1])
            found: list[int] = []
            while i >= 0 and len(found) < limit:
                rid = ids[i]
                if match(rid):
                    found.append(rid)
                i -= 1
            found.reverse()
            return found
        i = bisect_right(ids, after) if after is not None else 0
        if match is None:
            return list(ids[i : i + limit])
        found = []
        n = len(ids)
        while i < n and len(found) < limit:
            rid = ids[i]
            if match(rid):
                found.append(rid)
            i += 1
        return found

    def iter_matching(self, match: Callable[[int], bool] | None = None) -> Iterator[int]:
        """All matching ids in ascending order."""
        if match is None:
            yield from list(self.ids)
            return
        for rid in list(self.ids):
            if match(rid):
                yield rid


def _dump(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
