"""How big a scenario the engine is asked to run: the per-field bounds of the scenario
format and the bounds on the totals, so that nobody can hand the run worker a simulation
that never ends.

Measured on a 2-core CI machine (one core per simulation), the article's plan scaled up:
one simulation of ~1,040,000 jobs (the article's two generators x100 over its 304 days,
the fleet overloaded so that jobs pile up) takes 21.7 s and peaks at 700 MB resident;
the article itself (~10,400 jobs) takes ~1 s; a 10-seed assessment of the article (20
simulations, 207,000 jobs on its 4,000 nodes and large gangs) 18.3 s and 128 MB. So
11,000 to 50,000 jobs per second, and ~0.7 kB per queued job. The limits:

- one simulation: at most :data:`MAX_JOBS_PER_SIMULATION` expected jobs (~40 s, ~1.4 GB)
  and :data:`MAX_FAILURES_PER_SIMULATION` expected node failures, over at most
  :data:`MAX_NODES` nodes;
- one run (what-if or assessment: two arms x ``seeds`` simulations): at most
  :data:`MAX_JOBS_PER_RUN` simulated jobs (100 to 450 s here, inside the default 600 s
  budget of :mod:`gpufleet.governance.runs.budget`);
- each field of the format (``jobs_per_day``, ``count``, ``gpus``, durations, a pool's
  ``nodes``...): the bounds of :mod:`gpufleet.inputs.scenario.bounds`, which
  :mod:`gpufleet.inputs.scenario.schema` applies.

Expected jobs of a program = for each generator ``jobs_per_day x`` its active days (its
``start``/``end`` within the plan), plus every listed job (``count`` each) and every trace
row. Expected node failures = nodes x horizon hours / ``node_mtbf_hours``.
"""

from __future__ import annotations

from collections.abc import Callable

from gpufleet.domain.scenario import Scenario
from gpufleet.errors import InputError, Problem
from gpufleet.inputs.scenario.schema import ScenarioIn
from gpufleet.inputs.scenario.yamlsrc import KeyPath, Located, dotted
from gpufleet.inputs.traces.generator import Generator, ProgramWorkload

DAY_S = 86_400.0

# --- totals ----------------------------------------------------------------------------------
MAX_JOBS_PER_SIMULATION = 2_000_000
MAX_FAILURES_PER_SIMULATION = 1_000_000
MAX_NODES = 200_000
MAX_JOBS_PER_RUN = 5_000_000


def _n(x: float) -> str:
    """A count for people: 1,040,000; a huge one (a what-if's x1e300) as 8e+301."""
    return f"{x:,.0f}" if x < 1e12 else f"{x:.3g}"


def expected_jobs(w: ProgramWorkload, horizon_s: float) -> float:
    """The jobs one simulation of ``w`` submits on average: generators' rate times their
    active days within ``[0, horizon_s]``, plus every fixed (listed or trace) job."""
    total = 0.0
    for s in w.sources:
        if isinstance(s, Generator):
            days = max(0.0, min(s.end_s, horizon_s) - max(s.start_s, 0.0)) / DAY_S
            total += s.jobs_per_day * days
        else:
            total += len(s.drafts)
    return total


def program_jobs(sc: Scenario) -> dict[str, float]:
    """Expected jobs per simulation, by program (those with a workload we can count)."""
    return {
        str(name): expected_jobs(w, sc.horizon_s)
        for name, w in sc.workloads
        if isinstance(w, ProgramWorkload)
    }


def program_where(
    m: ScenarioIn, src: Located, file: str
) -> Callable[[str], tuple[str, int | None, str]]:
    """A program's ``workload`` field path, line and file in a scenario file."""
    paths: dict[str, KeyPath] = {
        p.name: ("entities", ei, "programs", pi, "workload")
        for ei, e in enumerate(m.entities)
        for pi, p in enumerate(e.programs)
    }

    def where(program: str) -> tuple[str, int | None, str]:
        path = paths.get(program)
        if path is None:
            return f"programs.{program}.workload", None, file
        return dotted(path), src.line(path), file

    return where


def size_problems(
    sc: Scenario, where: Callable[[str], tuple[str, int | None, str]]
) -> list[Problem]:
    """What makes ``sc`` too big to simulate, as problems; ``where(program)`` gives a
    program's field path, line and file (the biggest program carries the total's problem)."""
    out: list[Problem] = []
    jobs = program_jobs(sc)
    total = sum(jobs.values())
    if total > MAX_JOBS_PER_SIMULATION:
        biggest = max(jobs, key=lambda k: jobs[k])
        field, line, file = where(biggest)
        top = ", ".join(f"{k} {_n(v)}" for k, v in sorted(jobs.items(), key=lambda kv: -kv[1])[:3])
        out.append(
            Problem(
                field,
                f"the programs' workloads add up to {_n(total)} expected jobs per simulation "
                f"({top}); the engine runs at most {MAX_JOBS_PER_SIMULATION:,}",
                f"at most {MAX_JOBS_PER_SIMULATION:,} jobs over the plan, summed over programs: "
                "fewer jobs_per_day, a shorter plan or a smaller count",
                file,
                line,
            )
        )
    _, _, file = where("")
    nodes = sum(p.node_count for p in sc.pools)
    if nodes > MAX_NODES:
        out.append(
            Problem(
                "pools",
                f"the pools hold {_n(nodes)} nodes together; the engine runs at most {MAX_NODES:,}",
                f"at most {MAX_NODES:,} nodes over all pools",
                file,
            )
        )
    if sc.failures is not None:
        fails = nodes * (sc.horizon_s / 3600.0) / sc.failures.node_mtbf_hours
        if fails > MAX_FAILURES_PER_SIMULATION:
            out.append(
                Problem(
                    "failures.node_mtbf_hours",
                    f"{_n(nodes)} nodes over {sc.horizon_s / 3600:,.0f} h with a node MTBF of "
                    f"{sc.failures.node_mtbf_hours:g} h make {_n(fails)} expected failures",
                    f"at most {MAX_FAILURES_PER_SIMULATION:,} failures per simulation "
                    "(a longer node_mtbf_hours)",
                    file,
                )
            )
    return out


def _in_arm(arm: str) -> Callable[[str], tuple[str, int | None, str]]:
    return lambda program: (f"programs.{program}.workload", None, f"arm {arm}")


def require_runnable(arms: dict[str, Scenario], seeds: int, what: str) -> None:
    """Refuse a run whose arms are each within the per-simulation limits but whose
    simulations (``len(arms) x seeds``) add up to more than :data:`MAX_JOBS_PER_RUN`
    jobs, or an arm over a per-simulation limit (a what-if's changes can scale load)."""
    problems: list[Problem] = []
    total = 0.0
    for name, sc in arms.items():
        problems += size_problems(sc, _in_arm(name))
        total += sum(program_jobs(sc).values()) * seeds
    if problems:
        raise InputError(f"{what}: too big to simulate", problems)
    if total > MAX_JOBS_PER_RUN:
        raise InputError(
            f"{what}: seeds: {seeds} seeds x {len(arms)} arms would simulate {_n(total)} "
            f"jobs; a run simulates at most {MAX_JOBS_PER_RUN:,}",
            [
                Problem(
                    "seeds",
                    f"{seeds} seeds make {_n(total)} simulated jobs",
                    f"at most {MAX_JOBS_PER_RUN:,} simulated jobs per run (fewer seeds)",
                )
            ],
        )
