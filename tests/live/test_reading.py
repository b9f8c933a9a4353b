"""Asking the sources at once (gpufleet.live.reading): the same answers as one after the
other, each source's failure recorded as its own, and within Slurm the first failure in
the old order (sacctmgr, squeue, sinfo) whichever finishes first. Recorded answers of
the dev cluster's story (tests/live/story_samples.py), replayed."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from gpufleet.live.facts import SlurmState
from gpufleet.live.observation import SourceFailure
from gpufleet.live.observe import observe
from gpufleet.live.prometheus import ReplayTransport
from gpufleet.live.reading import read_all, read_slurm
from gpufleet.live.runner import ReplayRunner, command_text
from gpufleet.live.slurm.cli import SACCTMGR_ASSOC
from tests.live.story_samples import PROMETHEUS, READ_AT, prometheus, slurm, story_runner
from tests.live.test_observe import REGISTERED, story, story_mapping


class SlowRunner(ReplayRunner):
    """Replays, each command after ``delay_s``; records how many ran at the same time."""

    def __init__(self, inner: ReplayRunner, delay_s: float) -> None:
        super().__init__(inner.outputs)
        self.delay_s = delay_s
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def run(self, argv: Sequence[str]) -> str:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            time.sleep(self.delay_s)
            return super().run(argv)
        finally:
            with self._lock:
                self.running -= 1


def test_slurms_three_commands_run_at_once_and_give_what_they_gave_one_by_one() -> None:
    runner = SlowRunner(story_runner(), delay_s=0.2)
    state = read_slurm(slurm(runner))
    assert runner.most_at_once == 3  # sacctmgr, squeue and sinfo together
    source = slurm()  # the same answers read one after the other
    assert state == SlurmState(source.jobs(), source.nodes(), source.associations())


def test_when_two_slurm_commands_fail_the_first_in_the_old_order_is_recorded() -> None:
    runner = story_runner()
    del runner.outputs["squeue --json"]
    runner.outputs[command_text(SACCTMGR_ASSOC)] = "not|a|table\n"
    failure = read_slurm(slurm(runner))
    assert isinstance(failure, SourceFailure)
    assert (failure.source, failure.asked) == ("slurm", command_text(SACCTMGR_ASSOC))
    assert "<header>: columns Cluster" in failure.error  # sacctmgr's own error, not squeue's


def test_every_source_failing_at_once_is_each_recorded_as_its_own() -> None:
    runner = story_runner()
    del runner.outputs["sinfo --json"]
    transport = ReplayTransport.from_directory(PROMETHEUS)
    transport.answers.clear()  # every query unrecorded: the source cannot be read
    read = read_all(slurm(runner), None, prometheus(transport), READ_AT)
    assert read.kubernetes is None  # not configured: not asked
    assert isinstance(read.slurm, SourceFailure) and isinstance(read.gpus, SourceFailure)
    assert (read.slurm.source, read.slurm.asked) == ("slurm", "sinfo --json")
    assert read.gpus.source == "prometheus"


def test_reading_at_once_observes_the_story_as_reading_one_by_one() -> None:
    read = read_all(slurm(), None, prometheus())
    obs = observe(READ_AT, story_mapping(), REGISTERED, slurm=read.slurm, gpus=read.gpus)
    assert obs == story()  # tesla's 6 busy H100 at memphis, buffalo down, xai's demand...
    assert obs.failures == ()
