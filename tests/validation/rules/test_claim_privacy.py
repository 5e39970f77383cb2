"""A name in `ID RAMQ` never reaches a finding: only claim-shaped numbers are ever shown.

Every rule runs on inputs that produce each of its scenarios (`tests/support/rule_inputs.py`),
rebuilt through the reader's row builder with a canary name in the `ID RAMQ` cell of every
other row; no finding may carry the canary in its message, solution, data or claim numbers,
and every rule still produces every scenario it produced before.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest

from tests.support.rule_inputs import CASES
from tests.support.rules import feed_all
from validateur.validation.engine import ReferenceData
from validateur.validation.findings import Finding
from validateur.validation.rowbuilder import row_builder
from validateur.validation.rows import BillingRow, Column, Problem
from validateur.validation.rules import build_rules

#: Not claim-shaped (a name, a NAM, a name after a digit); all contain `CANA`.
CANARIES = ("TREMBLAY, CANARI", "Canari", "Jean-Canari", "CANA12345678", "1CANARI")
_COLUMNS = {column: index for index, column in enumerate(Column)}
_build = row_builder(_COLUMNS, len(_COLUMNS))


#: The text attribute of each column, in column order.
_TEXTS = [f"{c.value}_text" if hasattr(BillingRow, f"{c.value}_text") else c.value for c in Column]
_ID_RAMQ = _COLUMNS[Column.ID_RAMQ]


def cells_of(row: BillingRow, id_ramq: str) -> list[str]:
    """The record the reader would have read for `row`, `ID RAMQ` replaced."""
    cells = [getattr(row, name) for name in _TEXTS]
    cells[_ID_RAMQ] = id_ramq
    return cells


def with_canaries(rows: Iterable[BillingRow]) -> list[BillingRow]:
    """`rows` rebuilt by the row builder, every other one with a canary as its `ID RAMQ`."""
    rebuilt = []
    for n, row in enumerate(rows):
        id_ramq = CANARIES[n // 2 % len(CANARIES)] if n % 2 else row.id_ramq
        built = _build(row.row_number, cells_of(row, id_ramq), row.line)
        assert built is not None
        rebuilt.append(built)
    return rebuilt


def findings(slug: str, runs: list[list[BillingRow]], reference: ReferenceData) -> list[Finding]:
    found = []
    for rows in runs:
        [rule] = build_rules(reference, only=[slug])
        found += feed_all(rule, rows)
    return found


def shown(finding: Finding) -> str:
    """Everything of a finding that users see or export."""
    parts = (finding.message, finding.solution, json.dumps(finding.data, default=str))
    return " ".join((*parts, *finding.id_ramq)).upper()


@pytest.mark.parametrize("slug", ["annual-code", "gmf-8875", "clinical-minutes", "visit-duration"])
def test_the_rebuilt_rows_are_the_rows(slug: str) -> None:
    make_runs, _ = CASES[slug]
    for rows in make_runs():
        rebuilt = [_build(row.row_number, cells_of(row, row.id_ramq), row.line) for row in rows]
        assert rebuilt == rows


@pytest.mark.parametrize("slug", sorted(CASES))
def test_no_finding_of_any_rule_shows_a_name_put_in_id_ramq(slug: str) -> None:
    make_runs, reference = CASES[slug]
    runs = make_runs()
    masked = [with_canaries(rows) for rows in runs]
    assert any(
        p.problem is Problem.INVALID_CLAIM for rows in masked for row in rows for p in row.problems
    )
    found = findings(slug, masked, reference)
    assert {f.scenario for f in found} == {f.scenario for f in findings(slug, runs, reference)}
    leaks = [f for f in found if "CANA" in shown(f)]
    assert not leaks, leaks[:3]
    assert any(f.id_ramq for f in found)  # the claim-shaped numbers are still named


def test_structure_findings_never_show_a_name_put_in_id_ramq() -> None:
    rows = [row for make_runs, _ in CASES.values() for run in make_runs() for row in run]
    rows += rows[:6]  # duplicates, of canaries and of real claims
    [rule] = build_rules(ReferenceData(known_codes=frozenset()), only=["structure"])
    found = feed_all(rule, with_canaries(rows))
    assert {"invalid-claim", "duplicate-claim", "unknown-code"} <= {f.scenario for f in found}
    assert not [f for f in found if "CANA" in shown(f)]
