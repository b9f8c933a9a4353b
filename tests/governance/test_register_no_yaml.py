"""The register validates its plan as values: a transfer request (which checks the plan
with and without the candidate) neither writes YAML nor parses it; only a problem's line
needs the plan's text, and that line is the one in the plan as downloaded."""

from __future__ import annotations

from typing import Any, NoReturn

import pytest
import yaml
from sqlalchemy import select

from gpufleet.errors import InputError, ScenarioError
from gpufleet.governance.register.plan import plan_scenario, plan_text
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import ProgramRow, QuotaRow, TransferRow
from gpufleet.governance.transfers.lifecycle import request
from tests.support.governed import SMALL_MOVE, governed_register

# every entry of PyYAML that writes or reads a document
YAML_ENTRIES = ("safe_dump", "dump", "dump_all", "safe_load", "load", "compose", "parse", "emit")


def _no_yaml(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every YAML entry raise, and list the ones called."""
    called: list[str] = []
    for name in YAML_ENTRIES:

        def refuse(*_: Any, _name: str = name, **__: Any) -> NoReturn:
            called.append(_name)
            raise AssertionError(f"yaml.{_name} called")

        monkeypatch.setattr(yaml, name, refuse)
    return called


def test_a_transfer_request_neither_writes_nor_parses_yaml(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = governed_register(store)
    called = _no_yaml(monkeypatch)
    with store.write("test:ann") as tx:
        t = request(tx, people["ann"], SMALL_MOVE)
    assert called == []
    with store.read() as s:
        stored = s.get(TransferRow, t.id)
        assert stored is not None and stored.state == "requested"


def test_a_refused_request_names_the_problem_without_yaml(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # acme holds 8 nodes x 8 = 64 H100 of acme-h100; 72 is more than it has
    people = governed_register(store)
    called = _no_yaml(monkeypatch)
    too_many = {**SMALL_MOVE, "gpus": 72}
    with (
        pytest.raises(InputError, match="holds 64 GPUs of pool 'acme-h100'"),
        store.write("x") as tx,
    ):
        request(tx, people["ann"], too_many)
    assert called == []


def test_a_broken_plans_problem_has_its_line_in_the_plan_text(store: Store) -> None:
    governed_register(store)
    with store.write("test") as tx:
        prog = tx.session.scalars(select(ProgramRow).where(ProgramRow.name == "vision")).one()
        tx.session.add(QuotaRow(program_id=prog.id, gpu_type="TPU-v9", nominal=8))
    with store.read() as s, pytest.raises(ScenarioError) as e:
        plan_scenario(s)
    with store.read() as s:
        text = plan_text(s)
    (problem,) = e.value.problems
    assert problem.field == "entities[0].programs[0].quotas.TPU-v9"
    # the first line of the plan's text that holds the key, found by hand
    line = next(i for i, x in enumerate(text.splitlines(), 1) if x.strip().startswith("TPU-v9:"))
    assert (problem.file, problem.line) == ("<register>", line)
