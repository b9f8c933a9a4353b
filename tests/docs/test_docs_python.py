"""Every Python block of README.md runs as written, from the repository's root, in this
interpreter (the development install: every extra). .ci/package-check runs the same blocks
against the wheel installed with the extras, outside the repository.

Marked slow (the block runs the article's scenario five times and draws four figures: 30 s
on a quiet machine), as the documents' long commands are: ``.ci/run`` runs ``pytest -m
slow tests/docs``."""

from __future__ import annotations

import re

import pytest

from tests.docs.commands import ROOT

README = ROOT / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_the_readme_shows_python_blocks() -> None:
    assert BLOCKS, "README.md shows no Python block"


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS, ids=[f"block-{i + 1}" for i in range(len(BLOCKS))])
def test_the_readme_s_python_block_runs_as_written(
    block: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # its paths are the checkout's (examples/...)
    exec(compile(block, f"{README} (python block)", "exec"), {})
