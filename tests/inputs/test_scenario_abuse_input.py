"""Scenario files no loader should crash on (issue 10, item 9): ``gpufleet validate`` exits
2 with the file, the line and the field, never 1 with a RecursionError or ``int()``'s
ValueError ("Exceeds the limit (4300 digits)").

- nesting 500 levels deep (block and flow style) and 100,000 levels deep;
- integers outside 64 bits anywhere: 5,000 digits (past ``int()``'s limit) and 20 digits
  (within it, but no column or seed holds it), in an integer field and in a number field;
- a lone surrogate written as YAML's escape.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from gpufleet.cli.main import main
from gpufleet.inputs.scenario.yamlsrc import MAX_DEPTH
from tests.support.small_scenario import SMALL, with_defect

pytestmark = pytest.mark.security


def validate(path: Path) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["validate", str(path)])
    return code, err.getvalue()


def block_nesting(depth: int) -> str:
    """``x:`` then ``depth`` lists, each a line further in; the list at depth d (1-based,
    the mapping at the top being depth 1) starts on line d + 1."""
    return "name: deep\nstart: 2024-01-01\nx:\n" + "".join(
        "  " * i + "-\n" for i in range(1, depth)
    )


@pytest.mark.parametrize(
    ("text", "line"),
    [
        # the top mapping is level 1, x's list level 2 (line 4), ... level 51 on line 53
        pytest.param(block_nesting(500), MAX_DEPTH + 3, id="500-levels-block-style"),
        pytest.param("x: " + "[" * 500 + "]" * 500 + "\n", 1, id="500-levels-flow-style"),
        pytest.param("a: 1\nx: " + "[" * 100_000 + "]" * 100_000 + "\n", 2, id="100000-levels"),
    ],
)
def test_yaml_nested_hundreds_of_levels_deep_is_exit_2_naming_the_file_and_line(
    tmp_path: Path, text: str, line: int
) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(text, encoding="utf-8")
    code, said = validate(path)
    assert code == 2, said
    assert f"{path}:{line}: mappings and lists are nested more than 50 levels deep" in said


@pytest.mark.parametrize(
    ("old", "new", "field", "line"),
    [
        pytest.param("seed: 7", "seed: " + "9" * 5000, "seed", 4, id="5000-digit-seed"),
        pytest.param("    nodes: 8", "    nodes: " + "8" * 5000, "pools[0].nodes", 34,
                     id="5000-digit-count"),
        pytest.param("    power_kw: 5000\n  - name: west", "    power_kw: -" + "5" * 5000
                     + "\n  - name: west", "sites[0].power_kw", 8, id="5000-digit-number"),
        pytest.param("seed: 7", "seed: 18446744073709551616", "seed", 4,
                     id="2-to-the-64-is-past-64-bits"),
    ],
)  # fmt: skip
def test_a_huge_integer_anywhere_is_exit_2_naming_the_field(
    tmp_path: Path, old: str, new: str, field: str, line: int
) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(with_defect(old, new), encoding="utf-8")
    code, said = validate(path)
    assert code == 2, said
    assert f"{path}:{line}: {field}: the integer " in said
    assert "is too large (expected an integer from -9223372036854775808 to" in said


def test_the_largest_64_bit_integer_is_still_a_number(tmp_path: Path) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text(with_defect("seed: 7", f"seed: {2**63 - 1}"), encoding="utf-8")
    assert validate(path) == (0, "")


def test_a_lone_surrogate_escaped_in_yaml_is_exit_2_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "surrogate.yaml"
    path.write_text(with_defect("name: small", 'name: "sm\\ud800all"'), encoding="utf-8")
    code, said = validate(path)
    assert code == 2, said
    assert f"{path}:1: name: contains a lone surrogate" in said
    assert SMALL  # the defect is in SMALL's first line
