"""A run's budget: the simulation runs in a child process with a memory limit, and is
killed when it runs past its time, so that no run can take the server's memory or hold
the one run worker for ever.

- **time**: the parent waits ``timeout_s`` for the child's answer, then kills it (a
  thread cannot be stopped; a process can);
- **memory**: the parent reads the child's resident memory (``/proc/PID/statm``) every
  0.1 s and kills it past ``memory_mb``; the child's address space is limited too
  (``RLIMIT_AS``, twice the budget plus 2 GB: numerical libraries reserve address space
  they never touch), so an allocation far past the budget fails at once, in the child;
- **orphans**: a child whose server died stops by itself: it checks every second that
  its parent is alive, and its CPU time is limited (``RLIMIT_CPU``) as a last resort.

The child is *spawned* (a fresh interpreter, ~1 s of imports): forking a server with
threads and open database connections is unsafe. It gets the prepared scenarios
(pickled) and returns the result as JSON values, so a run's result is the same as in
process: the simulation is seeded and deterministic.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from gpufleet.errors import GpufleetError, InputError

log = logging.getLogger(__name__)

MB = 1024 * 1024


@dataclass(frozen=True)
class RunBudget:
    """What one run may use (``gpufleet serve --run-timeout --run-memory-mb
    --run-attempts``). ``memory_mb`` 0: no memory limit; ``in_process``: simulate in the
    worker's thread without a budget (tests and the CLI's own runs)."""

    timeout_s: float = 600.0
    memory_mb: int = 2048
    max_attempts: int = 2
    in_process: bool = False


DEFAULT_BUDGET = RunBudget()


class RunBudgetError(GpufleetError):
    """A run went past its time or memory budget (its message says which); stored as the
    run's error. Not an input error of any one request: the run's size was."""


class RunCrashError(GpufleetError):
    """The simulation raised in the run's process; the message is its error (the
    traceback is in the server's log)."""


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(70)  # the server is gone: nobody waits for this result


def _child(
    conn: Connection, fn: Callable[[Any], Any], arg: Any, memory_mb: int, cpu_s: int, parent: int
) -> None:
    import resource

    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if memory_mb > 0:
        limit = (2 * memory_mb + 2048) * MB
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
    try:
        out: tuple[str, Any] = ("ok", fn(arg))
    except MemoryError:
        out = ("memory", "")
    except InputError as e:
        out = ("input", e.render())
    except Exception as e:
        out = ("error", (f"{type(e).__name__}: {e}", traceback.format_exc()))
    try:
        conn.send(out)
    except MemoryError:
        conn.send(("memory", ""))
    conn.close()


def _died(code: int | None, budget: RunBudget) -> str:
    how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited ({code})"
    mem = f"more than its {budget.memory_mb} MB budget" if budget.memory_mb else "too much memory"
    return f"the run's process {how} without a result; it probably used {mem}"


def _rss_mb(pid: int | None) -> float:
    """Resident memory of process ``pid`` in MB (0 where /proc cannot tell)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB
    except (OSError, ValueError, IndexError):
        return 0.0


def _wait(recv: Connection, pid: int | None, budget: RunBudget) -> None:
    """Until the child answers (or dies); RunBudgetError past its time or memory."""
    deadline = time.monotonic() + budget.timeout_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RunBudgetError(f"ran past its {budget.timeout_s:g} s budget and was stopped")
        if recv.poll(min(0.1, left)):
            return
        if budget.memory_mb and _rss_mb(pid) > budget.memory_mb:
            raise RunBudgetError(f"used more than its {budget.memory_mb} MB budget and was stopped")


def run_within(fn: Callable[[Any], Any], arg: Any, budget: RunBudget) -> Any:
    """``fn(arg)`` (a module-level function and picklable values) in a child process
    within ``budget``. Raises :class:`RunBudgetError` past the budget, ``InputError``
    (its rendered message) for bad input found while running, :class:`RunCrashError`
    with the child's message for anything else."""
    if budget.in_process:
        return fn(arg)
    ctx = mp.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    cpu_s = int(budget.timeout_s * 2) + 30
    proc = ctx.Process(
        target=_child,
        args=(send, fn, arg, budget.memory_mb, cpu_s, os.getpid()),
        name="gpufleet-run",
        daemon=True,
    )
    proc.start()
    send.close()
    msg: tuple[str, Any] | None = None
    try:
        _wait(recv, proc.pid, budget)
        try:
            msg = recv.recv()
        except EOFError:
            msg = None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(10)
        recv.close()
    if msg is None:
        raise RunBudgetError(_died(proc.exitcode, budget))
    kind, value = msg
    if kind == "ok":
        return value
    if kind == "memory":
        raise RunBudgetError(f"used more than its {budget.memory_mb} MB budget and was stopped")
    if kind == "input":
        raise InputError(value)
    message, trace = value
    log.error("run failed in its process:\n%s", trace)
    raise RunCrashError(message)
