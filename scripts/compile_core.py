"""Build, or remove, the opt-in compiled engine core (issue 16).

The core modules below are compiled unchanged with mypyc into extension modules that sit
beside their ``.py`` files; Python imports an extension module before a source file of the
same name, so once built they are what runs, and once removed the pure-Python modules run
again. Pure Python stays the default and the fallback: nothing in the package needs a
compiler, ``make demo`` never builds this, and a build that fails leaves the sources as
they were. ``tests/sim/test_compiled_core.py`` builds a copy and checks that the compiled
and pure builds give the same run digest.

Usage (``make compiled`` / ``make pure`` run these on ``src``)::

    python scripts/compile_core.py [--src SRC]          # build (mypyc and a C compiler)
    python scripts/compile_core.py --clean [--src SRC]  # remove what a build left

The build takes about a minute of CPU (67 s on a 2-core AMD EPYC, 12 modules).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

# the per-event path: event loop, engine, state, recorder and the fifo/drf policies (the
# digest's recording subclass is compiled with the simulator it subclasses: an interpreted
# class cannot subclass a compiled one)
MODULES = (
    "gpufleet/sim/levels.py",
    "gpufleet/sim/recorder.py",
    "gpufleet/sim/simulator.py",
    "gpufleet/sim/digest.py",
    "gpufleet/engine/engine.py",
    "gpufleet/state/capacity.py",
    "gpufleet/state/jobs.py",
    "gpufleet/state/cluster.py",
    "gpufleet/state/snapshot.py",
    "gpufleet/policies/placement.py",
    "gpufleet/policies/basic/fifo.py",
    "gpufleet/policies/basic/drf.py",
)

SRC = Path(__file__).resolve().parent.parent / "src"
PYPROJECT = SRC.parent / "pyproject.toml"


class BuildFailed(Exception):
    """mypyc did not start or did not finish; what it said is in the message."""


def built(src: Path) -> list[Path]:
    """The extension modules and mypyc's shared library a build left under ``src``."""
    out = [p for m in MODULES for p in (src / m).parent.glob((src / m).stem + ".*.so")]
    return out + sorted(src.glob("*__mypyc.*.so"))


def clean(src: Path) -> list[Path]:
    gone = built(src)
    for p in gone:
        p.unlink()
    shutil.rmtree(src / "build", ignore_errors=True)
    return gone


def build(src: Path) -> float:
    """Compile ``MODULES`` in place under ``src``; returns the seconds it took. A failed
    build removes what it left, so the pure-Python modules keep running."""
    clean(src)
    mypyc = Path(sys.executable).with_name("mypyc")
    # the repository's mypy settings (its per-module overrides) for any source root
    config = ["--config-file", str(PYPROJECT)] if PYPROJECT.is_file() else []
    cmd = [str(mypyc) if mypyc.exists() else "mypyc", *config, *MODULES]
    t0 = time.perf_counter()
    try:
        subprocess.run(cmd, cwd=src, check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as e:
        clean(src)
        tail = "\n".join((e.stdout + e.stderr).strip().splitlines()[-10:])
        raise BuildFailed(f"mypyc exited {e.returncode}:\n{tail}") from None
    except OSError as e:
        clean(src)
        raise BuildFailed(f"mypyc did not start: {e}") from None
    shutil.rmtree(src / "build", ignore_errors=True)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", type=Path, default=SRC, help="the source root (default: src)")
    ap.add_argument("--clean", action="store_true", help="remove a build instead")
    args = ap.parse_args(argv)
    if not (args.src / MODULES[0]).is_file():
        sys.stderr.write(f"{args.src}: no {MODULES[0]} there; give the source root\n")
        return 2
    if args.clean:
        sys.stdout.write(f"removed {len(clean(args.src))} files: the pure-Python core runs\n")
        return 0
    try:
        seconds = build(args.src)
    except BuildFailed as e:
        sys.stderr.write(f"compiled core not built: {e}\nthe pure-Python core runs\n")
        return 2
    sys.stdout.write(f"compiled {len(MODULES)} core modules in {seconds:.0f} s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
