"""The optional parts of gpufleet and the extra of the distribution that brings each.

``pip install gpufleet`` simulates, replays traces, compares variants (``whatif``, with
its HTML report), sweeps, exports and keeps a SQLite register (the demo's governed
transfer). The rest is optional, one extra per part (pyproject.toml)::

    service    the REST API and dashboard (fastapi, uvicorn) and PostgreSQL (psycopg)
    postgres   a PostgreSQL register alone (psycopg)
    frames     results as DataFrames (pandas, polars)
    ray        ``sweep --ray`` (ray)
    live       checking Kueue manifests against their CRD schemas (jsonschema)
    parquet    workloads as Parquet files: ``trace convert``'s output, replaying one (pyarrow)

A module that needs one imports it where it is used, after :func:`require` has said
whether it is there: a missing extra is a :class:`MissingExtraError` (exit 2) naming the
command to install it, never an ImportError's traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from gpufleet.errors import InputError

EXTRAS: dict[str, tuple[str, ...]] = {
    "service": ("fastapi", "uvicorn", "psycopg"),
    "postgres": ("psycopg",),
    "frames": ("pandas", "polars"),
    "ray": ("ray",),
    "live": ("jsonschema",),
    "parquet": ("pyarrow",),
}
"""Each extra and the modules it brings (what pyproject.toml's optional dependencies
install), so an error can name the extra a module comes with."""


class MissingExtraError(InputError):
    """What the user asked for needs an extra that is not installed."""

    def __init__(self, extra: str, module: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the '{extra}' extra ({module} is not installed): "
            f"pip install 'gpufleet[{extra}]' (from a checkout: pip install -e '.[{extra}]')"
        )
        self.code = "missing-extra"
        self.extra = extra
        self.module = module


def require(extra: str, module: str, purpose: str) -> ModuleType:
    """``module``, imported, or :class:`MissingExtraError` naming ``extra`` when it (not
    something it imports in turn) is not installed. ``purpose`` says who needs it, as the
    error's first words ("`gpufleet serve`", "jobs_frame()")."""
    if module not in EXTRAS[extra]:
        raise ValueError(f"{module} is not in the {extra!r} extra: {EXTRAS[extra]}")
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name is None or e.name.split(".")[0] != module:
            raise  # the extra is there but broken: a real error, shown as one
        raise MissingExtraError(extra, module, purpose) from None
