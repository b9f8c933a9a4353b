"""The commands README.md and docs/*.md show, as a test runs them.

A command is a line of a shell code block (```sh, ```bash, ```shell, ```console or a bare
```) that starts with ``.venv/bin/gpufleet``, ``gpufleet``, ``make``, ``python`` or
``.venv/bin/python``/``.venv/bin/pytest``; a trailing backslash joins the next line.
``export ...`` and ``source ...`` lines of a block run before each later command of the
same block (its setup).

Where a command cannot run as part of the default suite, the document says so in an HTML
comment on the line before the block's fence, ``<!-- docs-test: KIND (why) -->``:

- ``synopsis``: placeholders (FILE, NAME) and [optional] parts; not run;
- ``server``: serves until stopped; not run (the path it documents is tested elsewhere);
- ``postgres``: needs a PostgreSQL owner role; not run;
- ``live``: reads the dev cluster; the block's commands run as one case, holding the
  cluster's lock, under ``-m slow`` (where the cluster is up: it waits for other live
  tests' lock, so it stays out of the default run);
- ``slow``: runs for minutes; run only under ``-m slow``.

Commands are also classified by pattern (:data:`PATTERNS`), so that a line needs no marker
for what its own text shows (``serve``, ``postgresql://``, ``--every`` without
``--count``, ``make test``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
PREFIXES = (
    ".venv/bin/gpufleet ",
    ".venv/bin/python ",
    ".venv/bin/pytest ",
    "gpufleet ",
    "make ",
    "python ",
)
SHELL_LANGS = frozenset({"sh", "bash", "shell", "console", ""})
KINDS = ("run", "synopsis", "server", "postgres", "live", "slow", "skip")

_FENCE = re.compile(r"^```(\w*)[ \t]*\n(.*?)^```", re.S | re.M)
_MARKER = re.compile(r"<!--\s*docs-test:\s*(\w+)\s*(.*?)\s*-->")
_SETUP = re.compile(r"^(export|source)\s")

PATTERNS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (
        re.compile(r"^make test\b"),
        "skip",
        "runs the whole suite, this test included (.ci/run runs it)",
    ),
    (
        re.compile(r"^make dev-cluster"),
        "skip",
        "starts or stops the shared dev cluster as root (docs/live.md)",
    ),
    (
        re.compile(r"gpufleet serve\b"),
        "server",
        "serves until stopped (tests/cli/test_first_hour.py follows the README to a served "
        "transfer)",
    ),
    (
        re.compile(r"postgresql://"),
        "postgres",
        "needs a PostgreSQL owner role (the store suites run with GPUFLEET_TEST_PG_URL)",
    ),
    (
        re.compile(r"--every\b(?!.*--count)"),
        "skip",
        "observes until stopped (--every without --count)",
    ),
    (re.compile(r"(^|/)pytest\b"), "skip", "runs a suite that the default run includes"),
    (
        re.compile(r"^make demo\b"),
        "slow",
        "the demo and its 3-seed report, about 10 s (tests/cli/test_demo.py and "
        "test_first_hour.py run the demo in the default suite)",
    ),
)


@dataclass(frozen=True)
class Command:
    doc: str  # the document, relative to the repository
    line: int  # the line of the command in it
    text: str  # as written, continuations joined
    kind: str  # one of KINDS
    why: str  # for every kind but "run"
    setup: tuple[str, ...]  # the block's earlier `export` and `source` lines, in order
    block: int  # the line of its block's opening fence

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"


def extract(path: Path) -> list[Command]:
    """Every command of one document, in order."""
    text = path.read_text(encoding="utf-8")
    doc = str(path.relative_to(ROOT))
    commands: list[Command] = []
    for block in _FENCE.finditer(text):
        if block.group(1) not in SHELL_LANGS:
            continue
        kind, why = _marker(text[: block.start()])
        first = text[: block.start(2)].count("\n") + 1
        setup: list[str] = []
        for offset, line in _joined_lines(block.group(2)):
            if _SETUP.match(line):
                setup.append(line)
            if not line.startswith(PREFIXES):
                continue
            k, w = _classify(line, kind, why)
            commands.append(Command(doc, first + offset, line, k, w, tuple(setup), first - 1))
    return commands


def _marker(before: str) -> tuple[str, str]:
    """The block's marker: the last non-blank line before its fence, if a docs-test comment."""
    lines = [ln for ln in before.splitlines() if ln.strip()]
    found = _MARKER.search(lines[-1]) if lines else None
    if not found:
        return "run", ""
    kind = found.group(1)
    if kind not in KINDS:
        raise ValueError(f"docs-test marker {kind!r}: expected one of {', '.join(KINDS)}")
    return kind, found.group(2).strip("() ") or kind


def _classify(line: str, kind: str, why: str) -> tuple[str, str]:
    """A pattern's kind wins over ``run`` and ``live``; a block's other markers win."""
    if kind not in ("run", "live"):
        return kind, why
    for pattern, k, w in PATTERNS:
        if pattern.search(line):
            return k, w
    return kind, why


def _joined_lines(body: str) -> list[tuple[int, str]]:
    """(line offset in the block, the line with its continuations), stripped."""
    out: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for i, raw in enumerate(body.splitlines()):
        if not pending:
            start = i
        stripped = raw.strip()
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        out.append((start, " ".join(p for p in pending if p)))
        pending = []
    if pending:
        out.append((start, " ".join(pending)))
    return out


def all_commands() -> list[Command]:
    return [c for path in DOCS for c in extract(path)]
