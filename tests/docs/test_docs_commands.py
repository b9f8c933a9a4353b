"""Every command README.md and docs/*.md show runs as written (issue 15), exit code 0.

Each document's commands run in order, in a scratch folder of their own that looks like a
checkout (the repository's folders linked in, ``.venv/bin/{gpufleet,python,pytest}``
running this tree's package), so that what one command writes (``gpufleet.db``,
``plan.yaml``, ``audit.key``) is there for the next and nothing lands in the repository.
``$GPUFLEET_TRACES`` is set (to the tests' traces folder when the caller has not).

Which ran and which did not: a command that runs is a passing (or failing) case named
``DOC:LINE``; one that does not is a skip whose reason says why (``pytest -rs``): the
document's ``<!-- docs-test: KIND (why) -->`` marker or a pattern of
:mod:`tests.docs.commands`. A plain ``gpufleet ...`` line runs in this process through
:func:`gpufleet.cli.main.main` (the console script's code, without a second of imports per
command); anything else (``make``, ``source``, pipes) runs in bash. ``live`` blocks run
against the dev cluster,
holding its lock, and ``slow`` ones, under ``-m slow``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gpufleet.cli.main import main
from tests.docs.commands import DOCS, ROOT, Command, all_commands, extract
from tests.support.traces import traces_root

COMMAND_TIMEOUT_S = 600
LINKED = ("examples", "src", "tests", "docs", "bench", "scripts", "Makefile", "pyproject.toml")
"""What of the repository a scratch folder links in: the documents' relative paths."""
_NAMED_TRACE = re.compile(r"\b(trace info|replay) ([a-z]+-\d{4}[\w:-]*)")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_SHELL_SYNTAX = re.compile(r"[|&;<>$`]")
_EXPORT = re.compile(r"^export\s+([A-Z_][A-Z0-9_]*)=(\S*)")
WRAPPERS = {
    "gpufleet": '"{py}" -m gpufleet.cli "$@"',
    "python": '"{py}" "$@"',
    "pytest": '"{py}" -m pytest "$@"',
}


def _cases(commands: list[Command]) -> list[object]:
    """One case per command; a ``live`` block's commands together, in order (they share
    one hold of the dev cluster's lock and one another's state)."""
    cases: list[object] = []
    live: dict[tuple[str, int], list[Command]] = {}
    for c in commands:
        if c.kind != "live":
            # one document's commands build on one another in its scratch folder (a register
            # seeded, then a token made in it), so under xdist they all go to one worker,
            # in order; otherwise a document split between two workers loses its state
            marks = [pytest.mark.xdist_group(f"docs:{c.doc}")]
            marks += [pytest.mark.slow] if c.kind == "slow" else []
            cases.append(pytest.param([c], id=c.id, marks=marks))
        elif (c.doc, c.block) not in live:
            live[(c.doc, c.block)] = [c]
            cases.append(
                pytest.param(
                    live[(c.doc, c.block)],
                    id=f"{c.doc}:{c.block}-live-block",
                    marks=[pytest.mark.live, pytest.mark.slow],
                )
            )
        else:
            live[(c.doc, c.block)].append(c)
    return cases


COMMANDS = all_commands()


def _scratch(folder: Path) -> Path:
    for name in LINKED:
        (folder / name).symlink_to(ROOT / name)
    # a checkout where the README's first command, `make demo`, ran (it makes out/; it is
    # marked slow, so the default run has no `make demo` before the commands that use out/)
    (folder / "out").mkdir()
    bin_dir = folder / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, line in WRAPPERS.items():
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\nexec {line.format(py=sys.executable)}\n")
        script.chmod(0o755)
    return folder


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """One scratch checkout per document, made on first use."""

    class Folders(dict[str, Path]):
        def __missing__(self, doc: str) -> Path:
            self[doc] = _scratch(tmp_path_factory.mktemp(doc.replace("/", "-")))
            return self[doc]

    yield Folders()


def _env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "GPUFLEET_DATABASE_URL"}
    env.setdefault("GPUFLEET_TRACES", str(traces_root()))
    env["PATH"] = f"{folder / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), str(ROOT)]))
    env["XDG_CONFIG_HOME"] = str(folder / ".config")  # no user's config
    return env


def _skip_unless_runnable(c: Command) -> None:
    if c.kind in ("synopsis", "server", "postgres", "skip"):
        pytest.skip(f"not run ({c.kind}): {c.why}")
    named = _NAMED_TRACE.search(c.text)
    if named and not (traces_root() / named.group(2).split(":")[0]).is_dir():
        pytest.skip(f"trace {named.group(2)!r} is not under {traces_root()} (GPUFLEET_TRACES)")


@pytest.mark.parametrize("commands", _cases(COMMANDS))
def test_the_documented_command_runs_as_written(
    commands: list[Command],
    scratch: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if commands[0].kind == "live":
        with _dev_cluster_lock():
            for c in commands:
                _check(c, scratch, monkeypatch, capsys)
        return
    _skip_unless_runnable(commands[0])
    _check(commands[0], scratch, monkeypatch, capsys)


def _check(
    command: Command,
    scratch: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = scratch[command.doc]
    argv = _in_process_argv(command)
    if argv is not None and command.kind != "live":
        code, out, err = _run_in_process(argv, command, folder, monkeypatch, capsys)
    else:
        done = _run("\n".join([*command.setup, command.text]), folder)
        code, out, err = done.returncode, done.stdout, done.stderr
    tail = f"stdout: {out[-2000:]}\nstderr: {err[-3000:]}"
    assert code == 0, f"{command.id}: `{command.text}` exited {code}\n{tail}"


def _in_process_argv(c: Command) -> list[str] | None:
    """A plain ``gpufleet ...`` line (no pipe, redirection, variable or ``source``) as the
    argv of :func:`gpufleet.cli.main.main`, which runs it in this process: the same code
    path as the console script, without a second or more of imports per command. None:
    run it in bash."""
    if _SHELL_SYNTAX.search(_QUOTED.sub("", c.text)) or any(
        not _EXPORT.match(line) for line in c.setup
    ):
        return None
    words = shlex.split(c.text, comments=True)
    if words[0] not in ("gpufleet", ".venv/bin/gpufleet"):
        return None
    return words[1:]


def _run_in_process(
    argv: list[str],
    c: Command,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str, str]:
    monkeypatch.chdir(folder)
    monkeypatch.delenv("GPUFLEET_DATABASE_URL", raising=False)
    monkeypatch.setenv("GPUFLEET_TRACES", _env(folder)["GPUFLEET_TRACES"])
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder / ".config"))
    for line in c.setup:
        name, value = _EXPORT.match(line).groups()  # type: ignore[union-attr]
        monkeypatch.setenv(name, value)
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _run(script: str, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script],
        cwd=folder,
        env=_env(folder),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


@contextmanager
def _dev_cluster_lock() -> Iterator[None]:
    """The dev cluster's lock, held while a live block runs; a skip where the cluster is
    not up (a failure with GPUFLEET_REQUIRE_DEVCLUSTER=1, as for the live tests)."""
    from tests.live.devcluster import find_devcluster

    cluster, why_not = find_devcluster()
    if cluster is None:
        if os.environ.get("GPUFLEET_REQUIRE_DEVCLUSTER") == "1":
            pytest.fail(f"GPUFLEET_REQUIRE_DEVCLUSTER=1 but {why_not}")
        pytest.skip(why_not)
    with cluster.exclusive():
        yield


def test_the_documents_show_commands_and_every_marker_is_known() -> None:
    # a marker with an unknown kind raises in extract(); a document without commands here
    # would mean the extractor lost them
    per_doc = {str(p.relative_to(ROOT)): extract(p) for p in DOCS}
    assert per_doc["README.md"], "no command found in README.md"
    assert sum(len(v) for v in per_doc.values()) == len(COMMANDS)
    runnable = {c.text for c in COMMANDS if c.kind == "run"}
    # what a new user tries first runs in the default suite (35 commands when written)
    assert len(runnable) >= 30, sorted(runnable)
    for shown in (
        ".venv/bin/gpufleet explain examples/article-tesla-xai.yaml --job 39 --at +36h",
        ".venv/bin/gpufleet whatif",
        ".venv/bin/gpufleet trace info philly-2017",
        ".venv/bin/gpufleet audit verify",
    ):
        assert any(t.startswith(shown) for t in runnable), shown


def test_the_readme_explain_example_names_a_pending_job_of_a_shipped_scenario() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "explain examples/article-tesla-xai.yaml --job 39 --at +36h" in readme
    assert "--job 812" not in readme


def test_what_the_documents_commands_write_is_ignored_by_git(scratch: dict[str, Path]) -> None:
    # runs after the commands (pytest keeps the module's order): every file they left in
    # their scratch checkouts would be an untracked file in a user's clone unless ignored
    if not scratch:
        pytest.skip("no documented command ran in this session (run the whole module)")
    written = [
        path.relative_to(folder)
        for folder in scratch.values()
        for path in folder.rglob("*")
        if path.is_file()
        and not path.is_symlink()
        and not {".venv", ".config"} & set(path.relative_to(folder).parts)
    ]
    assert written, "the commands wrote nothing: the check would prove nothing"
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", "--verbose", "--non-matching", *map(str, written)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    unignored = [line.split("\t")[1] for line in done.stdout.splitlines() if line.startswith("::")]
    assert unignored == [], f"untracked in a clone: {unignored}"


def test_under_xdist_one_documents_commands_go_to_one_worker(
    request: pytest.FixtureRequest,
) -> None:
    # xdist's --dist loadgroup sends a group's tests to one worker by the "@GROUP" suffix of
    # their node ids; with pytest 9 that suffix was silently lost (tests/conftest.py writes
    # it now), and service.md's token command ran in a worker whose register was never seeded
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("checks the node ids that pytest-xdist's --dist loadgroup reads (make test)")
    ours = [
        item
        for item in request.session.items
        if item.name.startswith("test_the_documented_command_runs_as_written[")
        and "-live-block]" not in item.name
    ]
    assert ours, "no documented command was collected"
    for item in ours:
        doc = item.name.split("[", 1)[1].rsplit(":", 1)[0]
        assert item.nodeid.endswith(f"]@docs:{doc}"), item.nodeid
