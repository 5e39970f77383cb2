"""`office-fee` (docs/rules.md): each documented check, then edge cases and properties."""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal
from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.factories import DOCTOR, make_row
from tests.support.office_fee_shapes import (
    CODES,
    DAY,
    DAYS,
    DOCTORS,
    OTHER_DOCTOR,
    PLACES,
    office_fee_rows,
)
from tests.support.rules import feed_all
from validateur.validation.engine import ReferenceData
from validateur.validation.findings import Finding, Severity
from validateur.validation.rows import BillingRow
from validateur.validation.rules.office_fee import OfficeFeeRule


def visits(
    n: int,
    *,
    walk_in: bool = False,
    paid: bool = True,
    first: int | None = None,
    day: date = DAY,
    doctor: str = DOCTOR,
) -> list[BillingRow]:
    """`n` visits (code 15804, cabinet 50001) of distinct fictitious patients."""
    start = first if first is not None else (1000 if walk_in else 1) + (0 if paid else 500)
    return [
        make_row(
            patient=start + i,
            context="85,G160" if walk_in else "",
            paid="49.15" if paid else "0",
            day=day,
            doctor=doctor,
        )
        for i in range(n)
    ]


def fee(
    code: str,
    *,
    walk_in: bool = False,
    place: str = "50001",
    day: date = DAY,
    doctor: str = DOCTOR,
) -> BillingRow:
    amount = "32.40" if code == "19928" else "64.80"
    context = "G160" if walk_in else ""
    return make_row(
        code=code, context=context, place=place, paid=amount, claimed=amount, day=day, doctor=doctor
    )


def run(rows: list[BillingRow]) -> list[Finding]:
    return feed_all(OfficeFeeRule(ReferenceData()), rows)


def without_summary(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.scenario != "SUMMARY"]


def scenarios(findings: list[Finding]) -> Counter[str]:
    return Counter(f.scenario for f in without_summary(findings))


def only(findings: list[Finding], scenario: str) -> Finding:
    matching = [f for f in findings if f.scenario == scenario]
    assert len(matching) == 1, [f.scenario for f in findings]
    return matching[0]


def claims(*rows: BillingRow) -> tuple[str, ...]:
    return tuple(row.id_ramq for row in rows)


# --- the checks of docs/rules.md ----------------------------------------------------------


def test_3_registered_and_19928_gives_E1() -> None:
    f19928 = fee("19928")
    findings = run([*visits(3), f19928])
    assert scenarios(findings) == Counter({"E1"})
    e1 = only(findings, "E1")
    assert e1.severity is Severity.ERROR
    assert e1.monetary_impact == Decimal("-32.40")
    assert e1.id_ramq == claims(f19928)
    assert e1.rows == (f19928.row_number,)
    assert f19928.id_ramq in e1.message and f19928.id_ramq in e1.solution
    assert "3 patients inscrits payés (0 non payé)" in e1.message
    assert "2025-03-10" in e1.message and "6" in e1.message


def test_3_paid_and_3_unpaid_registered_and_19928_gives_E1_saying_3_unpaid() -> None:
    f19928 = fee("19928")
    findings = run([*visits(3), *visits(3, paid=False), f19928])
    assert scenarios(findings) == Counter({"E1"})
    e1 = only(findings, "E1")
    assert e1.monetary_impact == Decimal("-32.40")
    assert "3 patients inscrits payés (3 non payés)" in e1.message
    assert e1.data["registeredPaid"] == 3 and e1.data["registeredUnpaid"] == 3
    assert "3 patients inscrits non payés" in e1.solution  # paid, they would reach 6


def test_8_registered_and_19928_gives_P1() -> None:
    f19928 = fee("19928")
    findings = run([*visits(8), f19928])
    assert scenarios(findings) == Counter({"P1"})
    p1 = only(findings, "P1")
    assert p1.severity is Severity.INFO and p1.monetary_impact == 0
    assert p1.id_ramq == claims(f19928) and "8 patients inscrits payés" in p1.message


def test_15_registered_and_19928_gives_P1_and_O1() -> None:
    f19928 = fee("19928")
    findings = run([*visits(15), f19928])
    assert scenarios(findings) == Counter({"P1", "O1"})
    o1 = only(findings, "O1")
    assert o1.severity is Severity.OPTIMIZATION
    assert o1.monetary_impact == Decimal("32.40")
    assert f19928.id_ramq in o1.solution and "19929" in o1.solution
    assert "15 patients inscrits payés (0 non payé)" in o1.message
    assert "32,40\u00a0$" in o1.solution


def test_15_registered_and_19929_gives_P3() -> None:
    f19929 = fee("19929")
    findings = run([*visits(15), f19929])
    assert scenarios(findings) == Counter({"P3"})
    assert only(findings, "P3").id_ramq == claims(f19929)


def test_8_registered_and_19929_gives_E3_downgrade_minus_32_40() -> None:
    f19929 = fee("19929")
    findings = run([*visits(8), f19929])
    assert scenarios(findings) == Counter({"E3"})
    e3 = only(findings, "E3")
    assert e3.monetary_impact == Decimal("-32.40")
    assert "par un 19928" in e3.solution and f19929.id_ramq in e3.solution
    assert "8 patients inscrits payés (0 non payé)" in e3.message and "12" in e3.message


def test_7_walk_in_and_walk_in_19928_gives_E2() -> None:
    f19928 = fee("19928", walk_in=True)
    findings = run([*visits(7, walk_in=True), f19928])
    assert scenarios(findings) == Counter({"E2"})
    e2 = only(findings, "E2")
    assert e2.monetary_impact == Decimal("-32.40")
    assert "7 patients sans rendez-vous payés (0 non payé)" in e2.message
    assert f19928.id_ramq in e2.message


def test_15_walk_in_and_walk_in_19929_gives_E4() -> None:
    f19929 = fee("19929", walk_in=True)
    findings = run([*visits(15, walk_in=True), f19929])
    assert scenarios(findings) == Counter({"E4"})
    e4 = only(findings, "E4")
    assert e4.monetary_impact == Decimal("-32.40")  # 15 ≥ 10: downgrade to a walk-in 19928
    assert "par un 19928 pour patients sans rendez-vous" in e4.solution
    assert "15 patients sans rendez-vous payés" in e4.message


def test_23_walk_in_and_walk_in_19928_gives_P2_and_O2() -> None:
    f19928 = fee("19928", walk_in=True)
    findings = run([*visits(23, walk_in=True), f19928])
    assert scenarios(findings) == Counter({"P2", "O2"})
    o2 = only(findings, "O2")
    assert o2.monetary_impact == Decimal("32.40")
    assert "un 19929 pour patients sans rendez-vous" in o2.solution and "G160" in o2.solution


def test_10_registered_10_walk_in_and_19928_of_each_gives_P1_and_P2() -> None:
    registered, walk_in = fee("19928"), fee("19928", walk_in=True)
    findings = run([*visits(10), *visits(10, walk_in=True), registered, walk_in])
    assert scenarios(findings) == Counter({"P1", "P2"})
    assert only(findings, "P1").id_ramq == claims(registered)
    assert only(findings, "P2").id_ramq == claims(walk_in)


def test_15_registered_22_walk_in_and_a_19929_of_each_gives_E5_minus_64_80() -> None:
    registered, walk_in = fee("19929"), fee("19929", walk_in=True)
    findings = run([*visits(15), *visits(22, walk_in=True), registered, walk_in])
    assert scenarios(findings) == Counter({"E5"})
    e5 = only(findings, "E5")
    assert e5.monetary_impact == Decimal("-64.80")
    assert e5.id_ramq == claims(registered, walk_in)
    assert "129,60\u00a0$" in e5.message and "64,80\u00a0$" in e5.message


def test_6_registered_25_walk_in_registered_19928_and_walk_in_19929_gives_E6() -> None:
    f19928, f19929 = fee("19928"), fee("19929", walk_in=True)
    findings = run([*visits(6), *visits(25, walk_in=True), f19928, f19929])
    assert scenarios(findings) == Counter({"E6"})
    e6 = only(findings, "E6")
    assert e6.monetary_impact == Decimal("-32.40")
    assert e6.id_ramq == claims(f19928, f19929)
    assert f"Annulez le 19928 (réclamation {f19928.id_ramq})" in e6.solution


def test_15_registered_12_walk_in_registered_19929_and_walk_in_19928_gives_E8() -> None:
    f19929, f19928 = fee("19929"), fee("19928", walk_in=True)
    findings = run([*visits(15), *visits(12, walk_in=True), f19929, f19928])
    assert scenarios(findings) == Counter({"E8"})
    e8 = only(findings, "E8")
    assert e8.monetary_impact == Decimal("-32.40")
    assert f"Annulez le 19928 (réclamation {f19928.id_ramq})" in e8.solution


def test_8_registered_15_walk_in_and_registered_19928_gives_P1_and_O3() -> None:
    f19928 = fee("19928")
    findings = run([*visits(8), *visits(15, walk_in=True), f19928])
    assert scenarios(findings) == Counter({"P1", "O3"})
    o3 = only(findings, "O3")
    assert o3.monetary_impact == Decimal("32.40")
    assert "Ajoutez un 19928 pour patients sans rendez-vous" in o3.solution
    assert "15 patients sans rendez-vous payés" in o3.message and f19928.id_ramq in o3.message


def test_8_registered_15_walk_in_and_walk_in_19928_gives_P2_and_O4() -> None:
    f19928 = fee("19928", walk_in=True)
    findings = run([*visits(8), *visits(15, walk_in=True), f19928])
    assert scenarios(findings) == Counter({"P2", "O4"})
    o4 = only(findings, "O4")
    assert o4.monetary_impact == Decimal("32.40")
    assert (
        "Ajoutez un 19928 pour patients inscrits" in o4.solution
        and "8 patients inscrits payés" in o4.message
    )


def test_19928_at_20001_with_10_registered_gives_ESTABLISHMENT() -> None:
    f19928 = fee("19928", place="20001")
    findings = run([*visits(10), f19928])
    assert scenarios(findings) == Counter({"ESTABLISHMENT"})
    finding = only(findings, "ESTABLISHMENT")
    assert finding.severity is Severity.ERROR
    assert finding.monetary_impact == Decimal("-32.40")
    assert "20001" in finding.message and "hospitalier" in finding.message
    assert finding.id_ramq == claims(f19928)


def test_13_registered_no_fee_gives_MISSED_19929_plus_64_80() -> None:
    findings = run(visits(13))
    assert scenarios(findings) == Counter({"MISSED"})
    finding = only(findings, "MISSED")
    assert finding.severity is Severity.OPTIMIZATION
    assert finding.monetary_impact == Decimal("64.80")
    assert "un 19929 pour patients inscrits" in finding.solution
    assert finding.data["claims"] == [{"code": "19929", "walkIn": False}]
    assert "13 patients inscrits payés (0 non payé)" in finding.message


def test_7_registered_12_walk_in_no_fee_gives_MISSED_two_19928_plus_64_80() -> None:
    findings = run([*visits(7), *visits(12, walk_in=True)])
    assert scenarios(findings) == Counter({"MISSED"})
    finding = only(findings, "MISSED")
    assert finding.monetary_impact == Decimal("64.80")
    assert "deux 19928" in finding.solution and "G160" in finding.solution
    assert finding.data["claims"] == [
        {"code": "19928", "walkIn": False},
        {"code": "19928", "walkIn": True},
    ]


def test_4_registered_3_walk_in_no_fee_gives_nothing() -> None:
    findings = run([*visits(4), *visits(3, walk_in=True)])
    assert scenarios(findings) == Counter()


# --- further cases -----------------------------------------------------------------------


def test_walk_in_context_spellings_all_count_as_walk_in() -> None:
    for context in ("G160", "#G160", "g160", "85, AR"):
        rows = [make_row(patient=i, context=context) for i in range(10)]
        rows.append(make_row(code="19928", context=context, paid="32.40"))
        assert scenarios(run(rows)) == Counter({"P2"}), context


def test_8_registered_and_19929_below_6_is_cancelled_minus_64_80() -> None:
    findings = run([*visits(4), fee("19929")])
    e3 = only(findings, "E3")
    assert e3.monetary_impact == Decimal("-64.80")
    assert e3.solution.startswith("Annulez le 19929")


def test_fee_at_a_non_cabinet_place_says_so_and_gets_no_threshold_finding() -> None:
    findings = run([*visits(3), fee("19929", place="30001")])
    assert scenarios(findings) == Counter({"ESTABLISHMENT"})
    finding = only(findings, "ESTABLISHMENT")
    assert finding.monetary_impact == Decimal("-64.80")
    assert "n'est pas un cabinet" in finding.message


def test_no_optimization_on_a_day_with_an_error() -> None:
    # 15 registered would suggest O1, but a second fee is billed at a hospital.
    findings = run([*visits(15), fee("19928"), fee("19928", walk_in=True, place="20001")])
    assert scenarios(findings) == Counter({"P1", "ESTABLISHMENT"})


def test_unpaid_visits_do_not_count_towards_thresholds() -> None:
    findings = run([*visits(2), *visits(20, paid=False)])
    assert scenarios(findings) == Counter()


def test_a_patient_paid_on_another_row_that_day_counts_as_paid() -> None:
    rows = [make_row(patient=i, paid="0") for i in range(6)]
    rows += [make_row(patient=i, code="15800") for i in range(6)]
    assert scenarios(run([*rows, fee("19928")])) == Counter({"P1"})


def test_a_patient_with_registered_and_walk_in_visits_counts_in_both_groups() -> None:
    rows = [make_row(patient=i) for i in range(10)]
    rows += [make_row(patient=i, context="G160", paid="0") for i in range(10)]
    finding = only(run(rows), "MISSED")
    assert finding.data["registeredPaid"] == 10 and finding.data["walkInPaid"] == 10
    assert finding.data["claims"] == [
        {"code": "19928", "walkIn": False},
        {"code": "19928", "walkIn": True},
    ]


def test_two_doctors_and_two_days_are_separate_groups() -> None:
    next_day = date(2025, 3, 11)
    rows = [
        *visits(5),
        *visits(5, day=next_day),
        *visits(4, doctor=OTHER_DOCTOR),
        fee("19928"),
        fee("19928", day=next_day),
        fee("19928", doctor=OTHER_DOCTOR),
    ]
    findings = without_summary(run(rows))
    assert [f.scenario for f in findings] == ["E1", "E1", "E1"]
    assert [(f.data["date"], f.data["registeredPaid"]) for f in findings] == [
        ("2025-03-10", 5),
        ("2025-03-10", 4),
        ("2025-03-11", 5),
    ]
    assert {f.data["doctor"] for f in findings} == {"Dr. T***", "Dr. G***"}


def test_rows_without_date_or_doctor_are_skipped() -> None:
    rows = [*visits(10), fee("19928")]
    for row in rows:
        row.date_service = None
    rows += [make_row(patient=i, doctor="") for i in range(10)]
    findings = run(rows)
    assert scenarios(findings) == Counter()
    assert only(findings, "SUMMARY").data["feesSkipped"] == 1


def test_summary_is_always_present_exactly_once() -> None:
    for rows in ([], visits(3), [*visits(13), fee("19928"), *visits(13, day=date(2025, 3, 11))]):
        findings = run(rows)
        summary = only(findings, "SUMMARY")
        assert summary.severity is Severity.INFO and summary.monetary_impact == 0
        assert findings[-1] is summary


def test_summary_counts_fees_errors_optimizations_and_gain() -> None:
    rows = [*visits(13), fee("19928"), *visits(3, day=date(2025, 3, 11))]
    rows += [fee("19928", day=date(2025, 3, 11)), *visits(13, day=date(2025, 3, 12))]
    summary = only(run(rows), "SUMMARY")
    assert summary.data["feesSeen"] == 2 and summary.data["errors"] == 1
    assert summary.data["optimizations"] == 2  # O1 + MISSED
    assert summary.data["potentialGain"] == "97.20"
    assert (
        "97,20\u00a0$" in summary.message
        and "2 réclamations analysées" in summary.message
        and "3 journées-médecin" in summary.message
    )


def test_messages_never_name_patients_or_doctors() -> None:
    rows = [*visits(7), *visits(12, walk_in=True), fee("19929"), *visits(13, day=date(2025, 4, 1))]
    for finding in run(rows):
        for text in (finding.message, finding.solution, repr(finding.data)):
            assert "Tremblay" not in text and "DOE" not in text and "TEST0000" not in text
            assert "1234567" not in text


# --- properties ----------------------------------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(office_fee_rows(), st.randoms(use_true_random=False))
def test_shuffling_rows_gives_the_same_findings(original: list[BillingRow], random: Random) -> None:
    shuffled = list(original)
    random.shuffle(shuffled)
    assert run(shuffled) == run(original)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.builds(
            BillingRow,
            row_number=st.integers(min_value=1, max_value=10_000),
            id_ramq=st.text(max_size=12),
            claim=st.text(max_size=12),
            code=CODES | st.text(max_size=6),
            lieu_pratique=PLACES | st.text(max_size=6),
            doctor_info=DOCTORS | st.text(max_size=20),
            date_service=st.none() | DAYS,
            montant_preliminaire=st.none() | st.decimals(allow_nan=False, allow_infinity=False),
            montant_paye=st.none() | st.decimals(allow_nan=False),
            context=st.frozensets(st.sampled_from(["G160", "AR", "", "#", "X"]) | st.text()),
            doctor=DOCTORS | st.text(max_size=8),
            patient_id=st.sampled_from(["", "TEST00000001", "x"]) | st.text(max_size=8),
        ),
        max_size=40,
    )
)
def test_arbitrary_rows_never_make_the_rule_raise(shapes: list[BillingRow]) -> None:
    findings = run(shapes)
    assert sum(1 for f in findings if f.scenario == "SUMMARY") == 1
