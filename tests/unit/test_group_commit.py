"""GroupCommit: requests queued from many threads are recorded in batches and each answered."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future

import pytest

from chaincut.whereabouts.group_commit import GroupCommit


def test_every_request_gets_its_own_outcome_from_batches() -> None:
    batches: list[list[int]] = []

    def record_all(numbers: Sequence[int]) -> list[int | Exception]:
        batches.append(list(numbers))
        return [ValueError(n) if n % 7 == 0 else n * 10 for n in numbers]

    group: GroupCommit[int, int] = GroupCommit(record_all, max_batch=16, idle_seconds=0.05)
    futures: dict[int, Future[int]] = {}
    lock = threading.Lock()

    def submit_range(start: int) -> None:
        for n in range(start, start + 50):
            future = group.submit(n)
            with lock:
                futures[n] = future

    threads = [threading.Thread(target=submit_range, args=(s,)) for s in range(1, 400, 50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for n, future in futures.items():
        if n % 7 == 0:
            with pytest.raises(ValueError, match=str(n)):
                future.result(timeout=10)
        else:
            assert future.result(timeout=10) == n * 10
    assert sorted(n for batch in batches for n in batch) == sorted(futures)
    assert max(len(batch) for batch in batches) <= 16


def test_a_failing_batch_answers_every_request_with_the_error() -> None:
    def record_all(numbers: Sequence[int]) -> list[int | Exception]:
        raise RuntimeError("store unavailable")

    group: GroupCommit[int, int] = GroupCommit(record_all, idle_seconds=0.05)
    futures = [group.submit(n) for n in range(5)]
    for future in futures:
        with pytest.raises(RuntimeError, match="store unavailable"):
            future.result(timeout=10)


def test_a_request_cancelled_before_its_batch_is_not_recorded() -> None:
    started, release = threading.Event(), threading.Event()
    recorded: list[int] = []

    def record_all(numbers: Sequence[int]) -> list[int | Exception]:
        started.set()
        release.wait(timeout=10)
        recorded.extend(numbers)
        return list(numbers)

    group: GroupCommit[int, int] = GroupCommit(record_all, idle_seconds=0.05)
    first = group.submit(1)
    assert started.wait(timeout=10)
    second = group.submit(2)
    assert second.cancel()
    third = group.submit(3)
    release.set()
    assert first.result(timeout=10) == 1
    assert third.result(timeout=10) == 3
    assert recorded == [1, 3]


def test_the_writer_stops_when_idle_and_starts_again() -> None:
    group: GroupCommit[int, int] = GroupCommit(lambda ns: list(ns), idle_seconds=0.01)
    assert group.submit(1).result(timeout=10) == 1
    deadline = threading.Event()
    for _ in range(200):
        if not any(t.name == "group-commit" for t in threading.enumerate()):
            break
        deadline.wait(0.01)
    assert group.submit(2).result(timeout=10) == 2
