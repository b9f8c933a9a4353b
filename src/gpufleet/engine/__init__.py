"""The scheduling engine: the same code under a simulated clock and a wall clock."""

from gpufleet.engine.engine import Engine, Executor, Observer

__all__ = ["Engine", "Executor", "Observer"]
