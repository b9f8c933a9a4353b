"""The compiled engine core decides exactly as the pure-Python one (issue 16).

``scripts/compile_core.py`` compiles the core modules with mypyc, unchanged. The slow test
builds a copy of ``src`` (about a minute of CPU), runs the same seeded workloads in a child
process on that copy and in this process on the pure-Python modules, and compares their run
digests (every launch's job, instants, group and nodes; every halt). srtf is there for the
preemption path: its policy stays interpreted but its preemptions go through the compiled
engine, state and recorder. The fast test checks that ``--clean`` takes a build away and
leaves the sources.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from gpufleet.inputs.scenario.synthetic import synthetic_scenario
from gpufleet.policies.registry import make_policy
from gpufleet.sim.digest import run_digest

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ("fifo", "drf", "srtf")

# run in the child: which core modules are extension modules, and each policy's digest on
# the same workload as the parent's
CHILD = """
import json, sys
from gpufleet.inputs.scenario.synthetic import synthetic_scenario
from gpufleet.policies.registry import make_policy
from gpufleet.sim import digest, levels, simulator
from gpufleet.engine import engine
out = {"compiled": [m.__name__ for m in (digest, levels, simulator, engine)
                    if m.__file__.endswith(".so")]}
for p in sys.argv[1:]:
    sc = synthetic_scenario(1000, 128, policy=p, load=1.0, seed=7)
    out[p] = digest.run_digest(sc, make_policy(p))
print(json.dumps(out))
"""


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compile_core", ROOT / "scripts/compile_core.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _copy_src(tmp: Path) -> Path:
    src = tmp / "src"
    shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    return src


@pytest.mark.slow
def test_compiled_core_gives_the_pure_cores_digests(tmp_path: Path) -> None:
    if shutil.which("cc") is None or not Path(sys.executable).with_name("mypyc").exists():
        pytest.skip("no C compiler or no mypyc (the dev extra) here: nothing to compile")
    src = _copy_src(tmp_path)
    seconds = _script().build(src)
    env = {**os.environ, "PYTHONPATH": str(src)}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, *POLICIES],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(child.stdout.strip().splitlines()[-1])
    assert sorted(got.pop("compiled")) == sorted(
        [
            "gpufleet.sim.digest",
            "gpufleet.sim.levels",
            "gpufleet.sim.simulator",
            "gpufleet.engine.engine",
        ]
    ), f"the child did not run the compiled core (build took {seconds:.0f} s)"
    for p in POLICIES:
        sc = synthetic_scenario(1000, 128, policy=p, load=1.0, seed=7)
        assert got[p] == run_digest(sc, make_policy(p)), p


def test_clean_removes_a_build_and_keeps_the_sources(tmp_path: Path) -> None:
    """A build's files planted by hand (an extension module beside its source and mypyc's
    shared library at the root) go; every source stays."""
    script = _script()
    src = tmp_path / "src"
    for m in script.MODULES:
        (src / m).parent.mkdir(parents=True, exist_ok=True)
        (src / m).write_text("# source\n")
    ext = src / "gpufleet/sim/levels.cpython-311-x86_64-linux-gnu.so"
    lib = src / "0123abcd__mypyc.cpython-311-x86_64-linux-gnu.so"
    ext.write_bytes(b"")
    lib.write_bytes(b"")
    assert sorted(script.clean(src)) == sorted([ext, lib])
    assert not ext.exists() and not lib.exists()
    assert all((src / m).is_file() for m in script.MODULES)
