"""Field resolution: newest source update wins, per field, with lineage.

Each customer keeps ``field_sources``: per field (and per ``attributes.<key>``) the
instance that set it and that instance's update time. A value is taken when it is
non-empty and at least as new as the current one; a tie goes to the later delivery.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

#: Fields resolved "newest source update wins", in the order they are applied.
FIELDS = ("email", "phone", "first_name", "last_name", "tags", "addresses")


class FieldState:
    """A customer's resolvable fields with their lineage, updated in time order."""

    COLUMNS = (*FIELDS, "attributes", "field_sources", "source_created_at")

    def __init__(self, values: dict[str, Any], sources: dict[str, Any], created: datetime | None) -> None:
        self.values = values
        self.sources = dict(sources)
        self.source_created_at = created
        self.dirty = False

    @classmethod
    def empty(cls) -> FieldState:
        """A state with no values (a customer about to be created)."""
        return cls({f: None for f in FIELDS} | {"attributes": {}}, {}, None)

    @classmethod
    def from_row(cls, row: Any) -> FieldState:
        """The state of an existing customer row (any object with the COLUMNS)."""
        values = {f: getattr(row, f) for f in FIELDS}
        values["attributes"] = dict(getattr(row, "attributes") or {})
        return cls(values, getattr(row, "field_sources") or {}, getattr(row, "source_created_at"))

    def _offer(self, name: str, value: Any, at: str, source: str, target: dict[str, Any], key: str) -> bool:
        meta = self.sources.get(name)
        if meta is not None and meta.get("at", "") > at:
            return False
        if target.get(key) == value:
            return False
        target[key] = value
        self.sources[name] = {"source": source, "at": at}
        return True

    def apply(
        self,
        at: datetime,
        source: str,
        fields: dict[str, Any],
        attributes: dict[str, Any] | None = None,
        created_at: datetime | None = None,
    ) -> bool:
        """Offer values that ``source`` had at ``at``; returns whether anything changed."""
        stamp = at.isoformat()
        changed = False
        for name in FIELDS:
            value = fields.get(name)
            if value is not None and value != "" and value != [] and self._offer(
                name, value, stamp, source, self.values, name
            ):
                changed = True
        for key, value in (attributes or {}).items():
            if value is not None and self._offer(
                f"attributes.{key}", value, stamp, source, self.values["attributes"], key
            ):
                changed = True
        if created_at is not None and (self.source_created_at is None or created_at < self.source_created_at):
            self.source_created_at = created_at
            changed = True
        self.dirty = self.dirty or changed
        return changed

    def absorb(self, other: FieldState) -> bool:
        """Take every field of ``other`` that is newer than ours (used by merges)."""
        changed = False
        for name in FIELDS:
            meta = other.sources.get(name)
            value = other.values.get(name)
            if meta and value not in (None, "", []):
                changed |= self._offer(name, value, meta["at"], meta["source"], self.values, name)
        for key, value in other.values["attributes"].items():
            meta = other.sources.get(f"attributes.{key}")
            if meta and value is not None:
                changed |= self._offer(
                    f"attributes.{key}", value, meta["at"], meta["source"], self.values["attributes"], key
                )
        created = other.source_created_at
        if created is not None and (self.source_created_at is None or created < self.source_created_at):
            self.source_created_at = created
            changed = True
        self.dirty = self.dirty or changed
        return changed

    def columns(self) -> dict[str, Any]:
        """Column values to write."""
        return {
            **self.values,
            "tags": self.values["tags"] or [],
            "addresses": self.values["addresses"] or [],
            "field_sources": self.sources,
            "source_created_at": self.source_created_at,
        }

    def insert_row(self, now: datetime) -> dict[str, Any]:
        """A full row for a new customer."""
        return {
            **self.columns(), "status": "active", "created_at": now, "updated_at": now,
            "merged_into_id": None, "erased_at": None,
        }

    def update_row(self, now: datetime) -> dict[str, Any]:
        """Changed columns for an existing customer."""
        return {**self.columns(), "updated_at": now}
