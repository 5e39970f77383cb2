"""`gmf-8875` (docs/rules.md): the GMF forfait once per patient per year, and missed forfaits."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.factories import make_row
from tests.support.row_shapes import rows_of
from tests.support.rules import feed_all
from validateur.validation.engine import ReferenceData
from validateur.validation.findings import Finding, Severity
from validateur.validation.rows import BillingRow
from validateur.validation.rules.gmf_8875 import Gmf8875Rule

GMF = ReferenceData(gmf_establishments=frozenset({"50001"}))


def run(rows: list[BillingRow], reference: ReferenceData = GMF) -> list[Finding]:
    return feed_all(Gmf8875Rule(reference), rows)


def forfait(day: str, paid: str | None = "9.35", **kw: Any) -> BillingRow:
    return make_row(code="8875", day=day, paid=paid, claimed="9.35", **kw)


def test_second_paid_8875_the_same_year_gives_E1_minus_9_35() -> None:
    rows = [forfait("2025-02-01", id_ramq="11111111111"), forfait("2025-05-01", id_ramq="222")]
    [finding] = run(rows)
    assert (finding.scenario, finding.severity) == ("E1", Severity.ERROR)
    assert finding.monetary_impact == Decimal("-9.35")
    assert finding.id_ramq == ("222",)
    assert "2025-02-01" in finding.message and "11111111111" in finding.message
    assert "9,35\u00a0$" in finding.solution


def test_unpaid_second_8875_gives_E1_without_impact() -> None:
    [finding] = run([forfait("2025-02-01"), forfait("2025-05-01", paid="0")])
    assert finding.scenario == "E1"
    assert finding.monetary_impact == Decimal("0.00")


def test_first_paid_8875_is_chosen_by_date_not_by_file_order() -> None:
    late = forfait("2025-09-01", id_ramq="99999999999")
    early = forfait("2025-01-15", id_ramq="11111111111")
    [finding] = run([late, early])
    assert finding.rows == (late.row_number,)
    assert finding.data["firstPaidDate"] == "2025-01-15"


def test_every_other_8875_of_the_group_is_an_E1() -> None:
    earlier_unpaid = forfait("2025-01-02", paid="0")
    rows = [earlier_unpaid, forfait("2025-02-01"), forfait("2025-03-01"), forfait("2025-04-01")]
    findings = run(rows)
    assert [f.scenario for f in findings] == ["E1", "E1", "E1"]
    assert [f.monetary_impact for f in findings] == [Decimal("0.00"), *[Decimal("-9.35")] * 2]


def test_8875_groups_without_a_paid_one_give_nothing() -> None:
    assert run([forfait("2025-02-01", paid="0"), forfait("2025-05-01", paid=None)]) == []


def test_one_8875_per_year_gives_nothing() -> None:
    assert run([forfait("2024-12-31"), forfait("2025-01-01")]) == []


def test_two_patients_each_with_one_8875_give_nothing() -> None:
    assert run([forfait("2025-02-01", patient=1), forfait("2025-02-01", patient=2)]) == []


def test_gmf_visit_without_8875_gives_MISSED_plus_9_35_on_the_first_visit() -> None:
    later = make_row(code="15804", day="2025-06-01")
    first = make_row(code="8857", day="2025-03-01", id_ramq="44444444444")
    [finding] = run([later, first])
    assert (finding.scenario, finding.severity) == ("MISSED", Severity.OPTIMIZATION)
    assert finding.monetary_impact == Decimal("9.35")
    assert finding.rows == (first.row_number,)
    assert "44444444444" in finding.message and "2025-03-01" in finding.message
    assert finding.data["visitCode"] == "8857"
    assert "8875" in finding.solution and "9,35\u00a0$" in finding.solution


def test_gmf_visit_with_an_8875_that_year_gives_nothing_even_unpaid() -> None:
    assert run([make_row(code="15804", day="2025-03-01"), forfait("2025-08-01", paid="0")]) == []


def test_8875_of_another_year_does_not_cover_the_visit() -> None:
    findings = run([make_row(code="15804", day="2025-03-01"), forfait("2024-08-01")])
    assert [f.scenario for f in findings] == ["MISSED"]


def test_one_MISSED_per_patient_year() -> None:
    rows = [make_row(code="15804", day=f"2025-0{m}-01", patient=p) for m in (3, 4) for p in (1, 2)]
    rows.append(make_row(code="15804", day="2024-05-01", patient=1))
    assert [f.scenario for f in run(rows)] == ["MISSED"] * 3


@pytest.mark.parametrize("context", ["G160", "#ar", "85, MTA13", "GMFU", "gap"])
def test_visit_with_a_non_gmf_context_is_not_a_gmf_visit(context: str) -> None:
    assert run([make_row(code="15804", context=context)]) == []


def test_visit_outside_the_gmf_establishments_gives_nothing() -> None:
    assert run([make_row(code="15804", place="50002")]) == []


@pytest.mark.parametrize("code", ["8857", "8859", "15801", "15840"])
def test_gmf_visit_codes_count(code: str) -> None:
    assert [f.scenario for f in run([make_row(code=code)])] == ["MISSED"]


@pytest.mark.parametrize("code", ["15800", "15841", "19928", "8875A", ""])
def test_other_codes_are_not_gmf_visits(code: str) -> None:
    assert run([make_row(code=code)]) == []


@pytest.mark.parametrize("places", [None, frozenset()])
def test_without_gmf_list_MISSED_is_skipped_and_said_once(places: frozenset[str] | None) -> None:
    reference = ReferenceData(gmf_establishments=places)
    rows = [make_row(code="15804", patient=p) for p in (1, 2)]
    rows += [forfait("2025-02-01"), forfait("2025-05-01")]
    findings = run(rows, reference)
    assert [f.scenario for f in findings] == ["SKIPPED", "E1"]
    assert findings[0].severity == Severity.INFO
    assert "GMF" in findings[0].message


def test_without_gmf_list_and_without_rows_the_skip_is_still_said() -> None:
    assert [f.scenario for f in run([], ReferenceData())] == ["SKIPPED"]


def test_data_masks_the_patient() -> None:
    [finding] = run([make_row(code="15804", patient=42)])
    assert finding.data["patient"] == "TEST****0042"
    assert "TEST0000" not in finding.message + finding.solution


CODES = ("8875", "8875", "8857", "8859", "15804", "15840")


@given(rows_of(CODES), st.randoms(use_true_random=False))
def test_shuffling_rows_gives_the_same_findings(rows: list[BillingRow], rnd: random.Random) -> None:
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    assert run(shuffled) == run(rows)
    assert run(shuffled, ReferenceData()) == run(rows, ReferenceData())


@given(rows_of(CODES))
def test_arbitrary_rows_never_raise(rows: list[BillingRow]) -> None:
    for finding in run(rows):
        assert finding.rule == "gmf-8875"
        assert finding.monetary_impact in (Decimal("-9.35"), Decimal("0"), Decimal("9.35"))
