"""The collector paused around a batch of parsing (gpufleet.gcpause): overlapping pauses,
from threads, leave it as the first found it."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from gpufleet.gcpause import gc_paused


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_a_pause_turns_the_collector_off_and_back_on(collector_on: None) -> None:
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_overlapping_pauses_from_threads_end_with_the_last(collector_on: None) -> None:
    entered, release = threading.Event(), threading.Event()

    def other() -> None:
        with gc_paused():
            entered.set()
            release.wait(10)

    t = threading.Thread(target=other)
    with gc_paused():
        t.start()
        assert entered.wait(10)
    assert not gc.isenabled()  # the other thread's pause still runs
    release.set()
    t.join(10)
    assert gc.isenabled()


def test_a_collector_off_before_the_pause_stays_off(collector_on: None) -> None:
    gc.disable()
    with gc_paused():
        pass
    assert not gc.isenabled()


def test_the_collector_comes_back_when_the_block_raises(collector_on: None) -> None:
    with pytest.raises(ValueError), gc_paused():
        raise ValueError("a bad answer")
    assert gc.isenabled()
