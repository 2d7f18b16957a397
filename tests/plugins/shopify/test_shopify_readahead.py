"""Reading ahead keeps order, bounds how far it runs ahead, surfaces errors and stops."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from crmhub.plugins.shopify.readahead import read_ahead


def test_items_arrive_in_order() -> None:
    assert list(read_ahead(iter(range(50)))) == list(range(50))


def test_it_runs_at_most_depth_items_ahead() -> None:
    produced: list[int] = []
    waiting = threading.Event()

    def source() -> Iterator[int]:
        for i in range(10):
            produced.append(i)
            if i == 4:
                waiting.set()
            yield i

    items = read_ahead(source(), depth=2)
    assert next(items) == 0
    waiting.wait(timeout=1)  # never reached: only 0 taken, 1 and 2 queued, 3 held
    assert produced == [0, 1, 2, 3]
    assert list(items) == list(range(1, 10))


def test_an_error_is_raised_where_the_consumer_meets_it() -> None:
    def source() -> Iterator[int]:
        yield 1
        raise ValueError("page 2 failed")

    items = read_ahead(source())
    assert next(items) == 1
    with pytest.raises(ValueError, match="page 2 failed"):
        next(items)


def test_closing_the_consumer_stops_and_closes_the_source() -> None:
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    items = read_ahead(source(), depth=1)
    assert next(items) == 0
    items.close()
    assert closed.wait(timeout=2)
