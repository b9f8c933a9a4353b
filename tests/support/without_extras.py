"""Run gpufleet as a base install would: every optional module refused on import.

``python tests/support/without_extras.py MODULES ARGV...`` installs a meta-path finder that
raises ModuleNotFoundError for every module under a name of ``MODULES`` (comma-separated;
``httpx`` and ``starlette`` too, which only the extras pull in), forgets any already
imported, then runs ``gpufleet ARGV...`` in this process and exits with its code. It is a
script, not a fixture: a module imported once stays imported, so only a fresh interpreter
shows what a command needs. ``--python CODE`` runs CODE instead of a command.
"""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType


class Refuse(importlib.abc.MetaPathFinder):
    """Refuses the modules of a set of top-level names, as if they were not installed."""

    def __init__(self, names: set[str]) -> None:
        self.names = names

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r} (refused)", name=name)
        return None


def refuse(names: set[str]) -> None:
    sys.meta_path.insert(0, Refuse(names))
    for loaded in [m for m in sys.modules if m.split(".")[0] in names]:
        del sys.modules[loaded]


if __name__ == "__main__":
    refuse(set(sys.argv[1].split(",")))
    if sys.argv[2] == "--python":
        exec(compile(sys.argv[3], "<--python>", "exec"), {})
        sys.exit(0)
    from gpufleet.cli.main import main

    sys.exit(main(sys.argv[2:]))
