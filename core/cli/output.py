"""Output helpers: JSON for scripts, rich tables and progress bars for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()
errors = Console(stderr=True, soft_wrap=True)


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set):
        return sorted(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot serialise {type(value).__name__}")


def to_json(data: Any) -> str:
    """``data`` as indented JSON (Decimals as strings, times as ISO 8601)."""
    return json.dumps(data, indent=2, default=_default, sort_keys=False)


def print_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout (no colour, no wrapping)."""
    sys.stdout.write(to_json(data) + "\n")
    sys.stdout.flush()


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print a table for people."""
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if value is None else str(value) for value in row))
    console.print(table)


def progress(description: str = "working", *, enabled: bool = True) -> Progress:
    """A progress bar on stderr (hidden with ``--json`` or when stderr is not a terminal)."""
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=errors, disable=not enabled or not errors.is_terminal, transient=False,
    )


def fail(message: str, *, hint: str | None = None) -> None:
    """Print an error (and how to fix it) on stderr."""
    errors.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    if hint:
        errors.print(f"[dim]hint:[/dim] {hint}", markup=True, highlight=False)
