"""``gpufleet completion bash|zsh``: scripts that bash parses (``bash -n``), that name every
command and subcommand, and whose completion function, sourced into a real bash, offers
the words a user expects after what was typed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gpufleet.cli.completion import command_words
from gpufleet.cli.main import main, parser

Capture = pytest.CaptureFixture[str]


def _script(shell: str, capsys: Capture) -> str:
    assert main(["completion", shell]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_the_script_is_valid_bash_syntax(shell: str, capsys: Capture, tmp_path: Path) -> None:
    path = tmp_path / f"gpufleet.{shell}"
    path.write_text(_script(shell, capsys), encoding="utf-8")
    done = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stderr) == (0, "")


def test_the_script_names_every_command_and_subcommand(capsys: Capture) -> None:
    script = _script("bash", capsys)
    paths = [p for p in command_words(parser()) if p]
    # the groups with subcommands, and a few leaves, as a reader would list them
    for expected in ("trace convert", "db upgrade", "audit verify", "admin create-token"):
        assert expected in paths
    for path in paths:
        head = path if " " not in path else f"'{path}'"
        assert f"        {head}) echo " in script, path
    top = command_words(parser())[""]
    for name in ("demo", "whatif", "sweep", "replay", "serve", "completion"):
        assert name in top


def _complete(script: Path, line: str) -> list[str]:
    """COMPREPLY of the completion function for ``line`` (the last word being completed)."""
    words = line.split(" ")
    bash = f"""
source {script}
COMP_WORDS=({" ".join(f"'{w}'" for w in words)})
COMP_CWORD={len(words) - 1}
_gpufleet
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    done = subprocess.run(["bash", "-c", bash], capture_output=True, text=True, check=True)
    return [w for w in done.stdout.splitlines() if w]


# the global flags every command takes (cli/main.py), in the parser's order
GLOBAL = ["-v", "--verbose", "-q", "--quiet", "--log-format"]
# the words offered, in the parser's order (help, subcommands or choices, options)
CASES = {
    "a command by its prefix": ("gpufleet tr", ["trace"]),
    "a subcommand after its group": ("gpufleet trace c", ["convert"]),
    "a group's subcommands and options": (
        "gpufleet db ",
        ["-h", "--help", "upgrade", "seed", "plan", "grant-app-role", *GLOBAL],
    ),
    "an option of a subcommand": ("gpufleet audit verify --j", ["--json"]),
    "an option's choices": ("gpufleet --log-format ", ["text", "json"]),
    "a subcommand option's choices": ("gpufleet trace info x --on-error s", ["stop", "skip"]),
    "after a file argument": ("gpufleet whatif base.yaml --se", ["--seeds"]),
    "a positional argument's choices": (
        "gpufleet completion ",
        ["-h", "--help", "bash", "zsh", *GLOBAL],
    ),
    "a positional choice by its prefix": ("gpufleet completion z", ["zsh"]),
}


@pytest.mark.parametrize("line, expected", CASES.values(), ids=CASES.keys())
def test_the_sourced_function_completes(
    line: str, expected: list[str], capsys: Capture, tmp_path: Path
) -> None:
    script = tmp_path / "gpufleet.bash"
    script.write_text(_script("bash", capsys), encoding="utf-8")
    got = _complete(script, line)
    assert got == expected


def test_zsh_loads_its_script_where_zsh_is_installed(capsys: Capture, tmp_path: Path) -> None:
    zsh = shutil.which("zsh")
    if zsh is None:
        pytest.skip("zsh is not installed here; the zsh script is checked with bash -n only")
    script = tmp_path / "_gpufleet"
    script.write_text(_script("zsh", capsys), encoding="utf-8")
    done = subprocess.run([zsh, "-c", f"source {script}"], capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (0, "")
