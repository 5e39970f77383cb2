"""Every rule sets the date, licence and masked doctor its group has; identical findings merge."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.csvfiles import act, billing_csv, sample_file
from tests.support.factories import make_row
from tests.support.rule_inputs import CASES
from tests.support.rules import feed_all
from validateur.validation.engine import Engine, ReferenceData
from validateur.validation.findings import Finding, licence
from validateur.validation.privacy import mask_doctor
from validateur.validation.reader import BillingReader
from validateur.validation.rows import BillingRow, Column, Problem, RowProblem
from validateur.validation.rules import RULES, build_rules
from validateur.validation.rules.structure import StructureRule

SHARED_CODES = Path(__file__).resolve().parents[4] / "shared" / "data" / "ramq_codes.csv"
#: Scenarios about no group at all (a run's summary, a check not made).
GROUPLESS = {"SUMMARY", "SKIPPED"}


def _expected(finding: Finding, rows: dict[int, BillingRow]) -> tuple[object, str, str]:
    """The date, licence and label every row of `finding` shares (none when they differ)."""
    mine = [rows[number] for number in finding.rows]
    days = {row.date_service for row in mine}
    doctors = {row.doctor for row in mine}
    day = days.pop() if len(days) == 1 else None
    if len(doctors) != 1:
        return day, "", ""
    (doctor,) = doctors
    info = next(row.doctor_info for row in mine)
    return day, licence(doctor), mask_doctor(info)


@pytest.mark.parametrize("slug", sorted(CASES))
def test_each_rule_sets_the_date_and_doctor_of_its_group(slug: str) -> None:
    make_runs, reference = CASES[slug]
    checked = 0
    for rows in make_runs():
        by_number = {row.row_number: row for row in rows}
        for finding in feed_all(RULES[slug](reference), rows):
            if finding.scenario in GROUPLESS:
                assert (finding.service_date, finding.doctor) == (None, "")
                continue
            if not finding.rows:  # a doctor-day without a fee row: its own date and doctor
                assert finding.scenario == "MISSED" and finding.service_date is not None
                assert len(finding.doctor) == 7 and finding.doctor_label.startswith("Dr. ")
                continue
            day, doctor, label = _expected(finding, by_number)
            assert (finding.service_date, finding.doctor) == (day, doctor), finding.message
            if doctor:
                assert finding.doctor_label == label
            checked += 1
    assert checked > 0


def test_doctor_day_rules_always_name_their_day_and_doctor() -> None:
    for slug in ("office-fee", "clinical-minutes"):
        make_runs, reference = CASES[slug]
        for rows in make_runs():
            for finding in feed_all(RULES[slug](reference), rows):
                if finding.scenario not in GROUPLESS:
                    assert finding.service_date and finding.doctor and finding.doctor_label


def test_patient_groups_carry_the_masked_person() -> None:
    for slug in ("annual-code", "gmf-8875"):
        make_runs, reference = CASES[slug]
        for rows in make_runs():
            for finding in feed_all(RULES[slug](reference), rows):
                if finding.scenario not in GROUPLESS:
                    assert finding.person.startswith("TEST****"), finding.scenario


def test_a_licence_is_seven_digits_never_a_name() -> None:
    rows = [replace(make_row(row_number=n, code="8859", units=100, doctor="Tremblay, Marie"),
                    doctor="Tremblay, Marie") for n in (1, 2)]
    (finding,) = feed_all(RULES["clinical-minutes"](ReferenceData()), rows)
    assert finding.doctor == "" and finding.doctor_label == "Dr. T***"


def test_structure_findings_share_date_and_doctor_only_when_every_row_does() -> None:
    same = [replace(make_row(row_number=n), patient="DOE, JANE") for n in (1, 2)]
    (finding,) = feed_all(StructureRule(ReferenceData()), same)
    assert (str(finding.service_date), finding.doctor, finding.doctor_label) == (
        "2025-03-10", "1234567", "Dr. T***")
    other_day = replace(make_row(row_number=3, day="2025-03-11"), patient="DOE, JANE")
    (finding,) = feed_all(StructureRule(ReferenceData()), [*same, other_day])
    assert finding.service_date is None and finding.doctor == "1234567"


def _known_codes() -> frozenset[str]:
    with SHARED_CODES.open(encoding="utf-8") as table:
        return frozenset(row["billing_code"].strip() for row in csv.DictReader(table))


def test_one_unknown_code_finding_per_code_listing_all_its_rows(tmp_path: Path) -> None:
    """172 rows of a code absent from the codes table: one finding, not 172."""
    rows = [act(n, Code="17238" if n % 3 == 0 else "15804") for n in range(1, 517)]
    rows += [act(517, Code="17239"), act(518, Code="DOE, JANE")]
    path = tmp_path / "export.csv"
    path.write_bytes(b"sep=;\r\n" + billing_csv(rows, delimiter=";", encoding="cp1252"))
    reference = ReferenceData(known_codes=_known_codes())
    assert "17238" not in reference.known_codes  # type: ignore[operator]
    with BillingReader(path) as reader:
        findings = feed_all(StructureRule(reference), reader)
    unknown = [f for f in findings if f.scenario == "unknown-code"]
    assert [f.data["code"] for f in unknown] == ["17238", "17239", "(illisible)"]
    first = unknown[0]
    assert len(first.rows) == 172 and first.data["count"] == 172
    assert first.rows == tuple(range(3, 517, 3))
    assert first.lines == tuple(row + 2 for row in first.rows)  # `sep=` and header lines
    assert first.message.startswith("172 lignes (5, 8, 11, 14, 17, 20, 23, 26, 29, 32, …) : "
                                    "le code 17238 est absent du manuel")
    assert len(first.id_ramq) == 172
    assert "DOE" not in unknown[2].message


def test_the_generated_sample_gives_one_finding_per_unknown_code(tmp_path: Path) -> None:
    path = sample_file(tmp_path / "sample.csv", 3_000)
    reference = ReferenceData(known_codes=_known_codes())
    with BillingReader(path) as reader:
        rows = list(reader)
    engine = Engine(build_rules(reference))
    for row in rows:
        engine.feed(row)
    unknown = [f for f in engine.finish() if f.scenario == "unknown-code"]
    codes = {row.code.strip() for row in rows} - reference.known_codes  # type: ignore[operator]
    codes -= {"19928", "19929"}  # named by the office-fee rule
    assert sorted(f.data["code"] for f in unknown) == sorted(codes)
    for finding in unknown:
        expected = [row.row_number for row in rows if row.code.strip() == finding.data["code"]]
        assert list(finding.rows) == expected and finding.data["count"] == len(expected)


def test_a_bad_value_is_quoted_only_when_it_looks_like_a_date_time_or_amount() -> None:
    def bad_date(n: int, text: str) -> BillingRow:
        return replace(make_row(row_number=n), date_service_text=text,
                       problems=(RowProblem(Problem.INVALID_DATE, Column.DATE_SERVICE),))

    rows = [bad_date(1, "2025-02-30"), bad_date(2, "2025-02-30"), bad_date(3, "TREMBLAY"),
            bad_date(4, "TEST12345678"), bad_date(5, "2025-13-01")]
    findings = feed_all(StructureRule(ReferenceData()), rows)
    assert [(f.rows, f.data.get("value")) for f in findings] == [
        ((1, 2), "2025-02-30"), ((3, 4), None), ((5,), "2025-13-01")]
    assert findings[0].message == (
        "Lignes 2 et 3 : la date « 2025-02-30 » de la colonne « Date de Service » est invalide.")
    shown = " ".join(f.message + repr(f.data) for f in findings)
    assert "TREMBLAY" not in shown and "TEST1234" not in shown
