"""The scheduling engine and what every host shares: time comes in as ``now_s``, so the same
cycle runs under the simulator's event clock and a live host's wall clock.

- :mod:`~gpufleet.engine.engine`: ``Engine.cycle`` and every change to cluster state, behind
  the ``Executor`` and ``Observer`` seams;
- :mod:`~gpufleet.engine.timeline`: a run's starting state, its dated changes and their one
  dispatch to the engine;
- :mod:`~gpufleet.engine.explain`: why a job is pending, as typed explanations;
- :mod:`~gpufleet.engine.fakes`: a null observer and recording executor for hosts and tests.
"""

from gpufleet.engine.engine import Engine, Executor, Observer

__all__ = ["Engine", "Executor", "Observer"]
