"""`clinical-minutes` (docs/rules.md): at most 180 minutes of 8857/8859 per doctor per day."""

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
from validateur.validation.rules.clinical_minutes import ClinicalMinutesRule

OTHER_DOCTOR = "7654321-54321 | Roy, Luc - Omnipraticien"


def run(rows: list[BillingRow]) -> list[Finding]:
    return feed_all(ClinicalMinutesRule(ReferenceData()), rows)


def first_periods(n: int, **kw: Any) -> list[BillingRow]:
    """`n` × 8857 at 09:00, 09:30, … (59,70 $ each)."""
    return [
        make_row(
            code="8857",
            start=f"{9 + i // 2:02d}:{30 * (i % 2):02d}",
            claimed="59.70",
            paid="59.70",
            **kw,
        )
        for i in range(n)
    ]


def test_5_x_8857_give_nothing() -> None:
    assert run(first_periods(5)) == []


def test_6_x_8857_give_nothing_180_is_allowed() -> None:
    assert run(first_periods(6)) == []


def test_7_x_8857_give_210_minutes_excess_30() -> None:
    [finding] = run(first_periods(7))
    assert finding.data["totalMinutes"] == 210 and finding.data["excessMinutes"] == 30
    assert "210 minutes" in finding.message and "180 minutes" in finding.message
    assert "30 minutes en trop" in finding.message


def test_8857_and_8859_of_60_30_15_give_195_minutes() -> None:
    rows = [
        make_row(code="8857"),
        make_row(code="8859", units=60),
        make_row(code="8857"),
        make_row(code="8859", units=30),
        make_row(code="8857"),
        make_row(code="8859", units=15),
    ]
    [finding] = run(rows)
    assert finding.data["totalMinutes"] == 195 and finding.data["excessMinutes"] == 15


@pytest.mark.parametrize("context", ["ICEP", "#icsm", "85, ICTOX"])
def test_ICEP_ICSM_ICTOX_rows_are_ignored(context: str) -> None:
    assert run([*first_periods(6), make_row(code="8857", context=context)]) == []


def test_EPICENE_is_not_ICEP() -> None:
    assert len(run([*first_periods(6), make_row(code="8857", context="EPICENE")])) == 1


def test_8859_without_units_counts_0() -> None:
    assert run([*first_periods(6), make_row(code="8859", units=None)]) == []


def test_all_paid_gives_info_all_paid() -> None:
    [finding] = run(first_periods(7))
    assert (finding.scenario, finding.severity) == ("OVER_LIMIT_PAID", Severity.INFO)
    assert finding.monetary_impact == Decimal("0.00")
    assert "payées" in finding.message


def test_unpaid_rows_give_an_error_with_their_preliminary_amounts_at_risk() -> None:
    rows = first_periods(6)
    rows.append(make_row(code="8859", units=30, paid="0", claimed="59.70", id_ramq="77777777777"))
    rows.append(make_row(code="8859", units=15, paid=None, claimed="29.85"))
    [finding] = run(rows)
    assert (finding.scenario, finding.severity) == ("OVER_LIMIT", Severity.ERROR)
    assert finding.monetary_impact == Decimal("-89.55")
    assert "89,55\u00a0$" in finding.message and "77777777777" in finding.message
    assert "45 minutes" in finding.solution


def test_finding_is_on_the_chronologically_first_row() -> None:
    rows = first_periods(7)
    late_first_in_file = rows.pop()
    rows.insert(0, late_first_in_file)
    untimed = make_row(code="8859", units=15, start=None)
    [finding] = run([untimed, *rows])
    assert finding.rows[0] == rows[1].row_number  # 09:00
    assert finding.rows[-1] == untimed.row_number  # no start time: last
    assert len(finding.rows) == 8


def test_doctors_and_days_are_counted_separately() -> None:
    rows = (
        first_periods(4)
        + first_periods(3, doctor=OTHER_DOCTOR)
        + first_periods(3, day="2025-03-11")
    )
    assert run(rows) == []


def test_doctor_is_masked_in_data_and_never_named() -> None:
    [finding] = run(first_periods(7))
    assert finding.data["doctor"] == "Dr. T***"
    assert "Tremblay" not in finding.message + finding.solution


def test_rows_without_date_or_doctor_are_skipped() -> None:
    rows = first_periods(7)
    for row in rows[:4]:
        row.date_service = None
    assert run(rows) == []
    assert run(first_periods(7, doctor="")) == []


CODES = ("8857", "8857", "8857", "8859", "8859")


@given(rows_of(CODES, max_size=60), st.randoms(use_true_random=False))
def test_shuffling_rows_gives_the_same_findings(rows: list[BillingRow], rnd: random.Random) -> None:
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    assert run(shuffled) == run(rows)


@given(rows_of(CODES, max_size=60))
def test_arbitrary_rows_never_raise(rows: list[BillingRow]) -> None:
    for finding in run(rows):
        assert finding.rule == "clinical-minutes"
        assert finding.monetary_impact <= 0
        assert finding.data["totalMinutes"] > 180


def test_units_beyond_machine_integers_are_counted_exactly() -> None:
    """The rule keeps its facts in columns: no column may overflow on an absurd `Unités`."""
    rows = [make_row(code="8859", units=10**20, row_number=k + 1) for k in range(3)]
    (finding,) = run(rows)
    assert finding.data["totalMinutes"] == 3 * 10**20
    assert finding.data["excessMinutes"] == 3 * 10**20 - 180
