"""Trace sources by name or by path.

A name (``philly-2017``) is looked up under the traces folder, ``$GPUFLEET_TRACES``
(default ``../shared/traces``). A path may be a Parquet workload written by
``gpufleet trace convert``, a folder named like a registered trace, a Slurm ``sacct``
export, a Kubernetes pod list in JSON, or any CSV with a column map.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gpufleet.errors import InputError, UnknownNameError
from gpufleet.inputs.traces.detect import load_file
from gpufleet.inputs.traces.rows import RowPolicy
from gpufleet.inputs.traces.workload import Workload, read_parquet
from gpufleet.registry import Registry

Loader = Callable[[Path, RowPolicy], Workload]


@dataclass(frozen=True)
class TraceSpec:
    name: str
    description: str
    load: Loader
    folder: str  # the folder under the traces root (a variant shares its trace's folder)


_REGISTRY = Registry[TraceSpec]("trace")


def register(name: str, description: str, folder: str | None = None) -> Callable[[Loader], Loader]:
    """Decorator: ``@register("philly-2017", "...")`` on ``def load(folder, policy)``.
    A variant of a trace names its parent's folder:
    ``@register("philly-2017-dirlab15k", "...", folder="philly-2017")``; by default the
    folder is a name's part before any ':' (``alibaba-openb-v2023:gpushare20``)."""

    def deco(fn: Loader) -> Loader:
        _REGISTRY.add(name, TraceSpec(name, description, fn, folder or _default_folder(name)))
        return fn

    return deco


def _default_folder(name: str) -> str:
    base = name.split(":")[0]
    for parent in (
        "philly-2017",
        "helios-2020",
        "alibaba-openb-v2023",
        "alibaba-pai-v2020",
        "alibaba-spot-gpu-v2026",
        "acme-2023",
        "pollux-sia-workloads",
    ):
        if base.startswith(parent):
            return parent
    return base


def traces_root() -> Path:
    return Path(os.environ.get("GPUFLEET_TRACES", "../shared/traces"))


def known_traces() -> list[TraceSpec]:
    _load_builtin_loaders()
    return [spec for _, spec in sorted(_REGISTRY.items())]


def _load_builtin_loaders() -> None:
    # importing the modules registers their loaders; imported here, not at the top, because
    # each of them imports `register` from this module
    from gpufleet.inputs.traces import loaders  # noqa: F401


def load_source(
    source: str,
    policy: RowPolicy | None = None,
    column_map: str | None = None,
    time_format: str | None = None,
) -> Workload:
    """A workload from a registered trace name or a path (see the module docstring).

    ``column_map`` (``FIELD=COLUMN,...``) and ``time_format`` are for a plain CSV file (see
    :mod:`gpufleet.inputs.traces.importers.columnmap`); with any other source they are an error."""
    _load_builtin_loaders()
    if source in _REGISTRY:
        _no_map(source, "a registered trace", column_map, time_format)
        spec = _REGISTRY.get(source)
        folder = traces_root() / spec.folder
        if not folder.is_dir():
            raise InputError(
                f"trace {source!r}: folder {folder} not found; set GPUFLEET_TRACES "
                "to the folder that holds the public traces"
            )
        return spec.load(folder, policy or RowPolicy(str(folder)))
    path = Path(source)
    if not path.exists():
        raise UnknownNameError("trace or file", source, _REGISTRY.names())
    if path.is_dir():
        _no_map(source, "a folder", column_map, time_format)
        if path.name in _REGISTRY:
            return _REGISTRY.get(path.name).load(path, policy or RowPolicy(str(path)))
        raise InputError(
            f"{path}: a folder, but not one of the known traces ({', '.join(sorted(_REGISTRY))})"
        )
    if path.suffix == ".parquet":
        _no_map(source, "a Parquet workload", column_map, time_format)
        return read_parquet(path)
    loaded: Workload = load_file(
        path, policy or RowPolicy(str(path)), column_map=column_map, time_format=time_format
    )
    return loaded


def _no_map(source: str, what: str, column_map: str | None, time_format: str | None) -> None:
    """--map and --time-format describe a plain CSV file; anything else has its own format."""
    given = [flag for flag, v in (("--map", column_map), ("--time-format", time_format)) if v]
    if given:
        verb, them = ("applies", "it") if len(given) == 1 else ("apply", "them")
        raise InputError(
            f"{source}: {' and '.join(given)} {verb} to a CSV file; this is {what}, "
            f"which is read without {them}"
        )
