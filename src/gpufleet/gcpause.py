"""The cyclic garbage collector paused while a batch of parsing runs.

Reading a large answer (a trace chunk, 5,100 squeue lines, 10,000 Prometheus series)
makes tens of thousands of containers and no reference cycles; the collections they
trigger each walk every tracked object of the process, and took a quarter to a half of
such reads. Reference counting still frees what the batch drops; cycles made meanwhile
wait for the next collection after the pause.

Threads may pause at once (the observation's sources are read in parallel, the service
polls while it serves): the collector is turned back on when the last pause ends, and
only if it was on when the first began.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """The collector off for the block (see the module docstring)."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
