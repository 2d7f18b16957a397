"""Wall-clock and CPU seconds per stage of a scoring run (reported in the run summary).

Sections may nest: a stage's time excludes the time of sections opened inside it, so the
stages add up to the run (``write`` does not count the ``explain`` rendering it drives).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class Timings:
    """Accumulates exclusive wall and process-CPU seconds per named stage."""

    def __init__(self) -> None:
        self._wall: dict[str, float] = {}
        self._cpu: dict[str, float] = {}
        self._inner: list[list[float]] = []  # per open section: [wall, cpu] of sections inside it

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        """Time the ``with`` block and add it (minus nested sections) to stage ``name``."""
        wall, cpu = time.perf_counter(), time.process_time()
        self._inner.append([0.0, 0.0])
        try:
            yield
        finally:
            inner_wall, inner_cpu = self._inner.pop()
            spent_wall, spent_cpu = time.perf_counter() - wall, time.process_time() - cpu
            self._wall[name] = self._wall.get(name, 0.0) + spent_wall - inner_wall
            self._cpu[name] = self._cpu.get(name, 0.0) + spent_cpu - inner_cpu
            if self._inner:
                self._inner[-1][0] += spent_wall
                self._inner[-1][1] += spent_cpu

    def as_dict(self) -> dict[str, dict[str, float]]:
        """``{stage: {"wall": s, "cpu": s}}`` in the order the stages first ran."""
        return {
            name: {"wall": round(self._wall[name], 4), "cpu": round(self._cpu[name], 4)}
            for name in self._wall
        }
