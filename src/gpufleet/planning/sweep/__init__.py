"""Sweeps: change templates over a grid of values, every cell under every seed.

A sweep is a what-if whose variants come from one pattern::

    --template "{gpus} H100 tesla->xai@xai-memphis {start}"
    --grid "gpus=0,4000,8000,12000" --grid "start=2024-06-15,2024-08-15"

makes 4 x 2 = 8 *cells*, each the base scenario with the template's change, its
placeholders filled with that cell's values. A template is a change short form (see
:mod:`gpufleet.planning.whatif.changes`), a move unless it starts with ``KIND:`` (``"delay:
tesla-gigatexas +{days}d"``); several templates make several changes per cell. A move or a
delivery of 0 GPUs is *no change*: a cell whose changes are all such is the base itself.
Cells whose changes come out the same (every ``gpus=0`` cell) are simulated once.

Every (scenario, seed) pair is an independent task. A :class:`RunPool` runs them: in this
process, in local worker processes (:class:`LocalExecutor`), or on a Ray cluster
(:class:`RayExecutor`: the way to outgrow one machine; the scenario goes to the workers
pickled, and ``gpufleet`` must be importable there). Each task returns a small flat dict of
figures (:func:`task_metrics`), not the whole result, so little crosses the wire. Results
do not depend on the pool: the same scenario and seed give the same figures anywhere.

A cell's figure is the mean over seeds with a Student-t 95% interval
(:func:`gpufleet.planning.whatif.stats.estimate`); a milestone not reached within the horizon counts
as reached at the horizon and is counted in ``not_reached`` (as in ``gpufleet whatif``).

The package: :mod:`~gpufleet.planning.sweep.spec` (templates, grid, cells),
:mod:`~gpufleet.planning.sweep.file` (a sweep in YAML),
:mod:`~gpufleet.planning.sweep.execution` (figures of a run, the run pools),
:mod:`~gpufleet.planning.sweep.results` (the sweep and its tables),
:mod:`~gpufleet.planning.sweep.heatmap` (the PNG and the output paths).
"""

from gpufleet.planning.sweep.execution import (
    Figures,
    LocalExecutor,
    Progress,
    RayExecutor,
    RunPool,
    Task,
    import_ray,
    metric_names,
    run_task,
    task_metrics,
)
from gpufleet.planning.sweep.file import SweepFile, load_sweep_file
from gpufleet.planning.sweep.heatmap import output_paths, write_heatmap
from gpufleet.planning.sweep.results import SweepResult, run_sweep
from gpufleet.planning.sweep.spec import (
    GRID_FORM,
    TEMPLATE_FORM,
    Axis,
    Cell,
    SweepSpec,
    Template,
    build_cells,
    parse_grid,
    parse_template,
)

__all__ = [
    "GRID_FORM",
    "TEMPLATE_FORM",
    "Axis",
    "Cell",
    "Figures",
    "LocalExecutor",
    "Progress",
    "RayExecutor",
    "RunPool",
    "SweepFile",
    "SweepResult",
    "SweepSpec",
    "Task",
    "Template",
    "build_cells",
    "import_ray",
    "load_sweep_file",
    "metric_names",
    "output_paths",
    "parse_grid",
    "parse_template",
    "run_sweep",
    "run_task",
    "task_metrics",
    "write_heatmap",
]
