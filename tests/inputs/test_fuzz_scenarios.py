"""A fuzz of ``gpufleet validate`` over mutated scenario files (issue 10): about 1,000
seeded mutations of the shipped scenarios (the examples and the article), each run
through the CLI's ``main`` in this process (a child process each would take minutes).

Mutations, one to three per file: a line deleted, duplicated (a duplicate key) or swapped
with another; a value replaced by another type, a 5,000-digit integer, ``.nan``, a unix
time, a YAML tag, an alias, a lone surrogate's escape or nesting up to 100,000 levels
deep; the text cut short; random bytes or bad UTF-8 put in; a tab or a shifted indent.

Checked for each: the exit code is 0 or 2, never 1 (the CLI's code for a crash: its last
line of defence turns any exception into 1), and a 2 prints a message naming the file.
"""

from __future__ import annotations

import contextlib
import io
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from gpufleet.api import article_scenario_path
from gpufleet.cli.main import main

pytestmark = pytest.mark.security

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {
    "small-lab": ROOT / "examples" / "small-lab.yaml",
    "article": Path(article_scenario_path()),
}
COMPANIONS = [ROOT / "examples" / "small-lab-jobs.csv"]
"""Files the scenarios name (a trace), copied next to the mutants."""
MUTANTS = {"small-lab": 600, "article": 400}
"""Mutants per source: 1,000 in all (the article loads its traces: slower per file)."""

VALUES = [
    "9" * 5000, "-" + "9" * 30, "18446744073709551616", "0", "-1", "1e400", ".nan", "-.inf",
    "true", "null", "~", "[]", "{}", "'8'", '"8"', "2024-13-45", "1720000000",
    "2024-07-02T00:00:00-10:00", "9999-12-31", '"\\ud800"', '"a\\udfffb"', '"\\0"',
    "!!python/object/apply:os.system [echo]", "!!binary AAAA", "!!float x", "!!int 0x",
    "*nowhere", "&anchor x", "|", ">-", "x" * 10_000, "é" * 500, "'unterminated",
    "[1, [2, [3", "{a: {b: {c:", "? complex key", "- item",
]  # fmt: skip
DEPTHS = [51, 500, 5000, 100_000]

Mutation = Callable[[random.Random, list[bytes]], list[bytes]]


def _line(rng: random.Random, lines: list[bytes]) -> int:
    return rng.randrange(len(lines)) if lines else 0


def delete(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    i = _line(rng, lines)
    return lines[:i] + lines[i + 1 :]


def duplicate(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    i = _line(rng, lines)
    return lines[: i + 1] + lines[i : i + 1] + lines[i + 1 :]


def swap(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    out = list(lines)
    if len(out) > 1:
        i, j = rng.sample(range(len(out)), 2)
        out[i], out[j] = out[j], out[i]
    return out


def revalue(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    """A ``key: value`` line's value replaced by another type or a hostile one."""
    keyed = [i for i, ln in enumerate(lines) if b": " in ln]
    if not keyed:
        return lines
    i = rng.choice(keyed)
    key = lines[i].split(b": ", 1)[0]
    if rng.random() < 0.2:
        n = rng.choice(DEPTHS)
        value = b"[" * n + b"]" * n
    else:
        value = rng.choice(VALUES).encode()
    return [*lines[:i], key + b": " + value + b"\n", *lines[i + 1 :]]


def truncate(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    data = b"".join(lines)
    return [data[: rng.randrange(len(data) + 1)]]


def noise(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    data = b"".join(lines)
    at = rng.randrange(len(data) + 1)
    junk = rng.choice(
        [
            bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16))),
            b"\xff\xfe",  # never UTF-8
            b"\xc3",  # a cut two-byte sequence
            b"\xed\xa0\x80",  # a surrogate's UTF-8 encoding: not valid UTF-8
            b"\x00",
            b"\t",
        ]
    )
    return [data[:at] + junk + data[at:]]


def tab(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    if not lines:
        return lines
    i = _line(rng, lines)
    out = list(lines)
    out[i] = b"\t" + out[i].lstrip(b" ")
    return out


def indent(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    if not lines:
        return lines
    i = _line(rng, lines)
    out = list(lines)
    out[i] = out[i][2:] if out[i].startswith(b"  ") and rng.random() < 0.5 else b"  " + out[i]
    return out


MUTATIONS: list[Mutation] = [delete, duplicate, swap, revalue, revalue, truncate, noise, tab]
MUTATIONS += [indent]


def mutant(rng: random.Random, source: bytes) -> bytes:
    lines = source.splitlines(keepends=True)
    for _ in range(rng.randint(1, 3)):
        lines = rng.choice(MUTATIONS)(rng, lines)
    return b"".join(lines)


def validate(path: Path) -> tuple[int, str]:
    """``gpufleet validate PATH`` in this process: its exit code and what it printed."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["validate", str(path)])
        except SystemExit as e:  # argparse's way out
            code = e.code if isinstance(e.code, int) else 2
    return code, out.getvalue() + err.getvalue()


@pytest.mark.slow  # about 1,000 mutants, 40 s on two cores; .ci/run runs it
@pytest.mark.parametrize("name", list(SOURCES))
def test_no_mutant_of_a_shipped_scenario_crashes_validate(name: str, tmp_path: Path) -> None:
    for companion in COMPANIONS:
        shutil.copy(companion, tmp_path / companion.name)
    source = SOURCES[name].read_bytes()
    rng = random.Random(f"fuzz-scenarios-{name}")  # seeded: the same mutants every run
    failures: list[str] = []
    codes: dict[int, int] = {}
    for i in range(MUTANTS[name]):
        path = tmp_path / f"{name}-{i:04}.yaml"
        path.write_bytes(mutant(rng, source))
        code, said = validate(path)
        codes[code] = codes.get(code, 0) + 1
        if code not in (0, 2):
            failures.append(f"{path.name}: exit {code}: {said[-500:]}")
        elif code == 2 and str(path) not in said:
            failures.append(f"{path.name}: exit 2 without naming the file: {said[-500:]}")
        else:
            path.unlink()  # keep the failing mutants only, to read them
    assert not failures, f"{len(failures)} of {MUTANTS[name]} ({codes}):\n" + "\n".join(
        failures[:10]
    )
    assert codes.get(2, 0) > MUTANTS[name] // 2  # most mutants are bad files, found as such
