"""Trace sources by name or by path.

A name (``philly-2017``) is looked up under the traces folder, the first of (see
:func:`trace_roots`):

1. ``$GPUFLEET_TRACES``;
2. ``traces = "PATH"`` in the user's config file, ``$XDG_CONFIG_HOME/gpufleet/config.toml``
   (``~/.config/gpufleet/config.toml`` when ``XDG_CONFIG_HOME`` is unset); a relative
   PATH is taken from the file's folder;
3. ``shared/traces`` beside the project's checkout (``../shared/traces`` from the
   repository this package was installed from in place), whatever the current folder.

A path may be a Parquet workload written by ``gpufleet trace convert``, a folder named
like a registered trace, a Slurm ``sacct`` export, a Kubernetes pod list in JSON, or any
CSV with a column map. A source that is neither gets "no such file" when it reads as a
path and the closest names when it reads as a name (``gpufleet trace list`` lists all).
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gpufleet.errors import InputError
from gpufleet.inputs.traces.detect import load_file, sniff
from gpufleet.inputs.traces.importers.sacct_format import SacctFormat
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


ENV_VAR = "GPUFLEET_TRACES"
CONFIG_KEY = "traces"
_CHECKOUT = Path(__file__).resolve().parents[4]
"""The repository when the package runs from a checkout (src/gpufleet/inputs/traces/)."""
_PATH_SUFFIXES = frozenset(
    {".csv", ".tsv", ".txt", ".json", ".jsonl", ".parquet", ".gz", ".out", ".log", ".sacct"}
)


@dataclass(frozen=True)
class TraceRoot:
    """One place the traces folder may be named: where the name came from, and the folder
    (None: that place names none, e.g. the variable is unset)."""

    origin: str
    folder: Path | None

    def describe(self) -> str:
        return f"{self.origin}: {self.folder}" if self.folder else f"{self.origin}: not set"


def user_config_file() -> Path:
    """``$XDG_CONFIG_HOME/gpufleet/config.toml``, else ``~/.config/gpufleet/config.toml``
    (the XDG Base Directory specification's default)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "gpufleet" / "config.toml"


def trace_roots() -> list[TraceRoot]:
    """Every place searched for the traces folder, in order (see the module docstring)."""
    env = os.environ.get(ENV_VAR)
    config = user_config_file()
    checkout = (
        _CHECKOUT.parent / "shared" / "traces" if (_CHECKOUT / "pyproject.toml").is_file() else None
    )
    return [
        TraceRoot(f"${ENV_VAR}", Path(env) if env else None),
        TraceRoot(f"{CONFIG_KEY} in {config}", _configured_root(config)),
        TraceRoot("the project's checkout", checkout),
    ]


def _configured_root(config: Path) -> Path | None:
    """The ``traces`` key of the user's config file; a file that is not TOML or whose key
    is not a string is bad input naming the file."""
    if not config.is_file():
        return None
    try:
        data = tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise InputError(f"{config}: cannot read it as TOML: {e}") from None
    value = data.get(CONFIG_KEY)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InputError(
            f"{config}: {CONFIG_KEY}: expected a folder path as a string, "
            f'e.g. {CONFIG_KEY} = "/data/traces"; got {value!r}'
        )
    path = Path(value).expanduser()
    return path if path.is_absolute() else config.parent / path


def traces_root() -> Path:
    """The traces folder: the first place of :func:`trace_roots` that names one (a folder
    named by ``$GPUFLEET_TRACES`` or the config is used even if absent, so that the error
    says where it looked); the checkout's ``shared/traces`` when none does."""
    roots = trace_roots()
    for root in roots:
        if root.folder is not None:
            return root.folder
    return _CHECKOUT.parent / "shared" / "traces"


def searched_roots() -> str:
    """The places :func:`trace_roots` searched, in order, for messages."""
    return "; ".join(root.describe() for root in trace_roots())


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
    :mod:`gpufleet.inputs.traces.importers.columnmap`); ``sacct`` (a delimiter, the columns
    of a headerless file) is for a sacct export; with any other source they are an error."""
    _load_builtin_loaders()
    if source in _REGISTRY:
        _no_map(source, "a registered trace", column_map, time_format)
        spec = _REGISTRY.get(source)
        folder = traces_root() / spec.folder
        if not folder.is_dir():
            raise InputError(
                f"trace {source!r}: folder {folder} not found (searched {searched_roots()}); "
                f"set {ENV_VAR}, or {CONFIG_KEY} in {user_config_file()}, to the folder "
                "that holds the public traces"
            )
        return spec.load(folder, policy or RowPolicy(str(folder)))
    path = Path(source)
    if not path.exists():
        raise _not_found(source, path)
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
        path,
        policy or RowPolicy(str(path)),
        column_map=column_map,
        time_format=time_format,
    )
    return loaded


def csv_path(source: str, column_map: str | None) -> Path | None:
    """The file :func:`load_source` would read as a plain CSV through ``column_map`` (so a
    caller may read it a chunk at a time, :class:`~.importers.csvmap.CsvRead`); None for
    any other source, which :func:`load_source` reads (or refuses, saying why)."""
    if column_map is None:
        return None
    _load_builtin_loaders()
    path = Path(source)
    if source in _REGISTRY or not path.is_file() or path.suffix == ".parquet":
        return None
    return None if sniff(path) == "kubernetes" else path


def load_sacct_source(source: str, policy: RowPolicy | None, sacct: SacctFormat) -> Workload:
    """A sacct export written with another ``--delimiter`` or with ``--noheader`` (``sacct``
    says which); a trace name, a folder or a Parquet workload is refused."""
    _load_builtin_loaders()
    path = Path(source)
    what = (
        "a registered trace"
        if source in _REGISTRY
        else "a folder"
        if path.is_dir()
        else "a Parquet workload"
        if path.suffix == ".parquet"
        else None
    )
    if what is not None:
        raise InputError(
            f"{source}: --delimiter and --columns apply to a sacct export; this is {what}, "
            "which is read without them"
        )
    if not path.exists():
        raise _not_found(source, path)
    return load_file(path, policy or RowPolicy(str(path)), sacct=sacct)


def _no_map(source: str, what: str, column_map: str | None, time_format: str | None) -> None:
    """--map and --time-format describe a plain CSV file; anything else has its own format."""
    given = [flag for flag, v in (("--map", column_map), ("--time-format", time_format)) if v]
    if given:
        verb, them = ("applies", "it") if len(given) == 1 else ("apply", "them")
        raise InputError(
            f"{source}: {' and '.join(given)} {verb} to a CSV file; this is {what}, "
            f"which is read without {them}"
        )


def _not_found(source: str, path: Path) -> InputError:
    """A source that is neither a known name nor an existing path: "no such file" when it
    reads as a path, else the closest names (never the whole list: ``gpufleet trace list``)."""
    if "/" in source or os.sep in source or path.suffix.lower() in _PATH_SUFFIXES:
        return InputError(f"{source}: no such file or folder")
    names = _REGISTRY.names()
    close = difflib.get_close_matches(source, names, n=3, cutoff=0.6)
    close += [n for n in sorted(names) if n.startswith(f"{source}:") and n not in close][
        : 3 - len(close)
    ]
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return InputError(
        f"unknown trace or file {source!r}; {hint}`gpufleet trace list` lists the traces "
        f"({len(names)} names with their variants)"
    )
