"""``read_ahead``: a source's items from a thread of their own, in order, errors in their place."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import closing

import pytest

from backend.domain.errors import RetryableError
from backend.services.sync_import_files import read_ahead


def test_items_arrive_in_order_produced_on_another_thread() -> None:
    threads: set[int] = set()

    def source() -> Iterator[int]:
        for n in range(50):
            threads.add(threading.get_ident())
            yield n

    assert list(read_ahead(source())) == list(range(50))
    assert threads and threading.get_ident() not in threads


class Crash(BaseException):
    """Stands in for kill -9 in the source (not an Exception)."""


@pytest.mark.parametrize("error", [RetryableError("connection dropped"), Crash()])
def test_what_the_source_raises_is_raised_after_the_items_before_it(error: BaseException) -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise error

    seen: list[int] = []
    with pytest.raises(type(error)):
        for item in read_ahead(source()):
            seen.append(item)
    assert seen == [1, 2]


def test_a_consumer_that_stops_early_stops_the_source() -> None:
    produced: list[int] = []
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            for n in range(1000):
                produced.append(n)
                yield n
        finally:
            closed.set()

    with closing(read_ahead(source(), depth=1)) as items:
        for item in items:
            if item == 3:
                break
    assert closed.wait(5)
    assert len(produced) <= 6  # the item handed over, one waiting, one being made: no more
