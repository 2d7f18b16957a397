"""Read ahead: fetch the next pages from Shopify while the hub stores the current one.

A sync alternates between waiting on Shopify (and its rate limit) and waiting on the
database. :func:`read_ahead` runs the fetching side in a thread, a bounded number of items
ahead, so both waits overlap. Items arrive in order; an error in the thread is raised where
the consumer would have met it; closing the consumer stops the thread after its current
request.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
_POLL = 0.1


def read_ahead(source: Iterator[T], *, depth: int = 2, name: str = "read-ahead") -> Iterator[T]:
    """Yield the items of ``source``, produced by a thread up to ``depth`` items ahead."""
    buffer: queue.Queue[tuple[bool, T | None, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(entry: tuple[bool, T | None, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def pump() -> None:
        try:
            for item in source:
                if not offer((False, item, None)):
                    return
            offer((True, None, None))
        except BaseException as exc:  # handed to the consumer
            offer((True, None, exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=pump, name=name, daemon=True)
    thread.start()
    try:
        while True:
            done, item, error = buffer.get()
            if error is not None:
                raise error
            if done:
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=_POLL * 5)
