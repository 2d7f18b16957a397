"""Structured logs: one JSON object per line, with the request or job id, secrets redacted.

``configure_logging(level, fmt)`` sets up the root handler once; ``log_context(...)`` binds
fields (``request_id``, ``job_id``, ``instance``) to every record logged inside it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from crmhub.core.errors import redact

_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("crmhub_log_context", default={})
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every log record emitted inside the block."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> dict[str, Any]:
    """Fields bound by the enclosing :func:`log_context` blocks."""
    return dict(_context.get())


class JsonFormatter(logging.Formatter):
    """Formats records as single-line JSON with redacted message and extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        entry.update(_context.get())
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["error"] = redact(self.formatException(record.exc_info))
        return redact(json.dumps(entry, default=str))


class TextFormatter(logging.Formatter):
    """Human-readable lines, redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(level: str | None = None, fmt: str | None = None) -> None:
    """Install the root handler on stderr (idempotent).

    :param level: DEBUG/INFO/WARNING/ERROR (default ``$CRMHUB_LOG_LEVEL`` or WARNING for the CLI).
    :param fmt: ``json`` or ``text`` (default ``$CRMHUB_LOG_FORMAT`` or text on a terminal).
    """
    level = (level or os.environ.get("CRMHUB_LOG_LEVEL") or "WARNING").upper()
    fmt = fmt or os.environ.get("CRMHUB_LOG_FORMAT") or ("text" if sys.stderr.isatty() else "json")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_crmhub", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._crmhub = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
