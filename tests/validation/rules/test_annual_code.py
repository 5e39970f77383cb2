"""`annual-code` (docs/rules.md): annual codes once per patient, calendar year and kind."""

from __future__ import annotations

import random
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tests.support.factories import make_row
from tests.support.row_shapes import rows_of
from tests.support.rules import feed_all
from validateur.validation.engine import ReferenceData
from validateur.validation.findings import Finding, Severity
from validateur.validation.rows import BillingRow
from validateur.validation.rules.annual_code import ANNUAL_CODES, AnnualCodeRule


def run(rows: list[BillingRow]) -> list[Finding]:
    return feed_all(AnnualCodeRule(ReferenceData()), rows)


def verdicts(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.scenario != "SUMMARY"]


def scenarios(findings: list[Finding]) -> list[str]:
    return [f.scenario for f in verdicts(findings)]


def test_one_paid_15815_gives_P1() -> None:
    [finding] = verdicts(run([make_row(code="15815", day="2025-03-10")]))
    assert (finding.scenario, finding.severity) == ("P1", Severity.INFO)
    assert finding.monetary_impact == Decimal("0.00")


def test_two_paid_15815_in_2025_give_E1() -> None:
    rows = [
        make_row(code="15815", day="2025-01-10", id_ramq="11111111111"),
        make_row(code="15815", day="2025-04-02", id_ramq="22222222222"),
    ]
    [finding] = verdicts(run(rows))
    assert (finding.scenario, finding.severity) == ("E1", Severity.ERROR)
    assert finding.monetary_impact == Decimal("0.00")
    assert "2 fois" in finding.message and "payé 2 fois" in finding.message
    assert "11111111111" in finding.message and "22222222222" in finding.message
    assert finding.id_ramq == ("11111111111", "22222222222")


def test_paid_then_two_unpaid_give_E2_naming_the_paid_claim_and_the_unpaid_ones() -> None:
    rows = [
        make_row(code="15815", day="2025-06-20", paid="0", id_ramq="33333333333"),
        make_row(code="15815", day="2025-01-10", id_ramq="11111111111"),
        make_row(code="15815", day="2025-03-15", paid=None, id_ramq="22222222222"),
    ]
    [finding] = verdicts(run(rows))
    assert (finding.scenario, finding.severity) == ("E2", Severity.ERROR)
    assert finding.monetary_impact == Decimal("0.00")
    assert "seule la réclamation 11111111111 du 2025-01-10 a été payée" in finding.message
    assert "2 réclamations non payées : 22222222222 du 2025-03-15 et 33333333333 du 2025-06-20" in (
        finding.message
    )
    assert "22222222222" in finding.solution and "33333333333" in finding.solution
    assert finding.data["paid"]["claims"] == ["11111111111"]
    assert finding.data["unpaid"]["claims"] == ["22222222222", "33333333333"]
    assert finding.data["unpaid"]["dates"] == ["2025-03-15", "2025-06-20"]


def test_three_unpaid_at_49_15_give_E3_recovering_49_15() -> None:
    rows = [make_row(code="15815", day=f"2025-0{m}-01", paid="0") for m in (2, 5, 8)]
    [finding] = verdicts(run(rows))
    assert (finding.scenario, finding.severity) == ("E3", Severity.ERROR)
    assert finding.monetary_impact == Decimal("49.15")
    assert "49,15\u00a0$" in finding.solution
    assert "3 fois" in finding.message


def test_15815_on_2024_12_31_and_2025_01_01_give_two_P1() -> None:
    rows = [make_row(code="15815", day="2024-12-31"), make_row(code="15815", day="2025-01-01")]
    findings = verdicts(run(rows))
    assert scenarios(findings) == ["P1", "P1"]
    assert sorted(f.data["year"] for f in findings) == [2024, 2025]


def test_15815_and_15819_once_each_the_same_year_give_two_P1() -> None:
    rows = [make_row(code="15815", day="2025-02-01"), make_row(code="15819", day="2025-09-01")]
    assert scenarios(run(rows)) == ["P1", "P1"]


def test_same_code_for_two_patients_gives_two_P1() -> None:
    rows = [make_row(code="15815", patient=1), make_row(code="15815", patient=2)]
    assert scenarios(run(rows)) == ["P1", "P1"]


def test_two_codes_of_the_same_kind_count_together() -> None:
    rows = [make_row(code="15801", day="2025-02-01"), make_row(code="15816", day="2025-05-01")]
    [finding] = verdicts(run(rows))
    assert finding.scenario == "E1"
    assert finding.data["codes"] == ["15801", "15816"]


def test_data_holds_the_figures_with_the_patient_masked() -> None:
    rows = [
        make_row(code="15815", day="2025-01-10", patient=7, id_ramq="11111111111"),
        make_row(code="15815", day="2025-03-15", patient=7, paid="0", id_ramq="22222222222"),
    ]
    [finding] = verdicts(run(rows))
    assert finding.data["patient"] == "TEST****0007"
    assert finding.data["code"] == "15815" and finding.data["year"] == 2025
    assert (finding.data["totalCount"], finding.data["paidCount"]) == (2, 1)
    assert finding.data["unpaidCount"] == 1
    assert finding.data["paid"] == {
        "claims": ["11111111111"],
        "dates": ["2025-01-10"],
        "amounts": ["49.15"],
    }
    assert "TEST0000" not in finding.message + finding.solution


def test_summary_counts_rows_codes_and_breakdown() -> None:
    rows = [
        make_row(code="15815", day="2025-01-10", patient=1),
        make_row(code="15815", day="2025-02-10", patient=1),
        make_row(code="15819", day="2025-02-10", patient=2),
    ]
    summary = run(rows)[-1]
    assert (summary.scenario, summary.severity) == ("SUMMARY", Severity.INFO)
    assert summary.data["rowsChecked"] == 3
    assert summary.data["codesChecked"] == ["15815", "15819"]
    assert summary.data["breakdown"] == {"E1": 1, "E2": 0, "E3": 0}
    assert "3 lignes vérifiées (codes 15815 et 15819)" in summary.message
    assert "1 erreur (E1 : 1" in summary.message


def test_no_annual_code_gives_no_summary() -> None:
    assert run([make_row(code="15804"), make_row(code="8875")]) == []


def test_rows_without_date_or_patient_are_skipped() -> None:
    undated = make_row(code="15815")
    undated.date_service = None
    assert run([undated, make_row(code="15815", patient="")]) == []


def test_all_annual_codes_have_a_kind() -> None:
    assert len(ANNUAL_CODES) == 12
    assert {ANNUAL_CODES["15815"], ANNUAL_CODES["15840"]} == {
        "prise en charge",
        "visite périodique",
    }


CODES = ("15801", "15802", "15815", "15816", "15819", "15820")


@given(rows_of(CODES), st.randoms(use_true_random=False))
def test_shuffling_rows_gives_the_same_findings(rows: list[BillingRow], rnd: random.Random) -> None:
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    assert run(shuffled) == run(rows)


@given(rows_of(CODES))
def test_arbitrary_rows_never_raise(rows: list[BillingRow]) -> None:
    for finding in run(rows):
        assert finding.rule == "annual-code"
        assert finding.monetary_impact >= 0
