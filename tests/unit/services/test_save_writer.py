"""Group commit of widget saves: every job is written exactly once, groups form while one is being
written, a person appears once per group, and a failed write fails only its own group."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import OperationalError

from backend.domain.identity import VisitorIdentity
from backend.domain.preferences import SaveRequest
from backend.services.consent import ChoiceContext
from backend.services.save_writer import GroupWriter, SaveJob, Take, write_group


def job(external_id: str) -> SaveJob:
    identity = VisitorIdentity("site", external_id, None, "token:k1", 0)
    request = SaveRequest("site", (), False, None)
    prop: Any = None  # the writer under test never reads it
    return SaveJob(identity, prop=prop, req=request, ctx=ChoiceContext("widget", "token:k1"))


class Recorder:
    def __init__(self, pause: float = 0.0, fail_on: str | None = None) -> None:
        self.groups: list[list[str]] = []
        self.pause = pause
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def __call__(self, take: Take) -> None:
        jobs = take()
        with self.lock:
            self.groups.append([j.identity.external_id or "" for j in jobs])
        time.sleep(self.pause)
        for j in jobs:
            if j.identity.external_id == self.fail_on:
                j.error = RuntimeError("boom")


def run_all(writer: GroupWriter, ids: list[str]) -> list[SaveJob]:
    jobs = [job(i) for i in ids]
    threads = [threading.Thread(target=writer.submit, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert not any(t.is_alive() for t in threads)
    return jobs


def test_a_lone_save_is_written_at_once_in_a_group_of_one() -> None:
    recorder = Recorder()
    writer = GroupWriter(recorder)
    writer.submit(job("a"))
    assert recorder.groups == [["a"]]


def test_saves_arriving_during_a_write_share_the_next_group() -> None:
    recorder = Recorder(pause=0.05)
    writer = GroupWriter(recorder)
    ids = [f"p{n}" for n in range(20)]
    run_all(writer, ids)
    written = [i for group in recorder.groups for i in group]
    assert sorted(written) == sorted(ids)  # each exactly once
    assert len(recorder.groups) < len(ids)  # and grouped
    assert max(len(g) for g in recorder.groups) > 1


def test_one_person_appears_once_per_group_and_in_order() -> None:
    recorder = Recorder(pause=0.3)
    writer = GroupWriter(recorder, max_group=64)
    blocker = threading.Thread(target=writer.submit, args=(job("first"),))
    blocker.start()
    time.sleep(0.01)  # "first" is being written: the rest queue up behind it
    jobs = [job("same"), job("other"), job("same")]
    threads = []
    for j in jobs:
        threads.append(threading.Thread(target=writer.submit, args=(j,)))
        threads[-1].start()
        time.sleep(0.005)
    for t in [blocker, *threads]:
        t.join(timeout=10)
    assert recorder.groups[0] == ["first"]
    assert recorder.groups[1:] == [["same", "other"], ["same"]]


def test_group_size_is_bounded() -> None:
    recorder = Recorder(pause=0.02)
    writer = GroupWriter(recorder, max_group=3)
    run_all(writer, [f"p{n}" for n in range(12)])
    assert max(len(g) for g in recorder.groups) <= 3
    assert sum(len(g) for g in recorder.groups) == 12


def test_a_failing_write_reaches_only_its_own_job_and_the_writer_goes_on() -> None:
    recorder = Recorder(pause=0.01, fail_on="bad")
    writer = GroupWriter(recorder)
    jobs = run_all(writer, ["ok-1", "bad", "ok-2", "ok-3"])
    errors = {j.identity.external_id: j.error for j in jobs}
    assert isinstance(errors.pop("bad"), RuntimeError)
    assert set(errors.values()) == {None}
    writer.submit(job("later"))
    assert recorder.groups[-1] == ["later"]


def test_an_exception_escaping_the_write_still_releases_the_group() -> None:
    def explode(take: Take) -> None:
        raise KeyboardInterrupt

    writer = GroupWriter(explode)
    try:
        writer.submit(job("a"))
    except KeyboardInterrupt:
        pass
    recorder = Recorder()
    writer._write = recorder  # the writer is not left busy
    writer.submit(job("b"))
    assert recorder.groups == [["b"]]


def test_the_group_is_formed_when_the_write_begins_so_saves_arriving_meanwhile_join_it() -> None:
    """The write calls ``take`` once it holds the database's write lock; saves that arrived
    while it waited for the lock are in this group, not the next one."""
    groups: list[list[str]] = []
    arrived = threading.Event()

    def write(take: Take) -> None:
        arrived.wait(timeout=5)  # waiting for the write lock
        groups.append([j.identity.external_id or "" for j in take()])

    writer = GroupWriter(write)
    leader = threading.Thread(target=writer.submit, args=(job("lead"),))
    leader.start()
    time.sleep(0.02)
    followers = [threading.Thread(target=writer.submit, args=(job(f"f{n}"),)) for n in range(3)]
    for t in followers:
        t.start()
    time.sleep(0.05)
    arrived.set()
    for t in [leader, *followers]:
        t.join(timeout=10)
    assert groups == [["lead", "f0", "f1", "f2"]]


def test_a_write_that_cannot_begin_fails_every_save_of_its_group() -> None:
    """No save may be answered as written when its transaction never began (database down)."""

    class NoDatabase:
        jobs = None

        @contextmanager
        def session(self) -> Iterator[Any]:
            raise OperationalError("BEGIN IMMEDIATE", {}, Exception("unable to open database"))
            yield

        def clock(self) -> datetime:
            return datetime.now(UTC)

    deps: Any = NoDatabase()
    writer = GroupWriter(lambda take: write_group(deps, take))
    jobs = run_all(writer, ["a", "b", "c"])
    assert all(isinstance(j.error, OperationalError) for j in jobs)
