"""`visit-duration` (docs/rules.md): long visits worth more billed as clinical interventions."""

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
from validateur.validation.rules.visit_duration import VisitDurationRule, intervention_value

CODES_LOADED = ReferenceData(consultation_codes=frozenset({"15804", "00093", "8857", "8859"}))


def run(rows: list[BillingRow], reference: ReferenceData = CODES_LOADED) -> list[Finding]:
    return feed_all(VisitDurationRule(reference), rows)


def visit(start: str, end: str, claimed: str, **kw: Any) -> BillingRow:
    return make_row(code="15804", start=start, end=end, claimed=claimed, **kw)


def test_30_minutes_billed_42_50_gain_17_20() -> None:
    [finding] = run([visit("10:00", "10:30", "42.50", id_ramq="55555555555")])
    assert (finding.scenario, finding.severity) == ("O1", Severity.OPTIMIZATION)
    assert finding.monetary_impact == Decimal("17.20")
    assert "17,20\u00a0$" in finding.message and "42,50\u00a0$" in finding.message
    assert "55555555555" in finding.message and "8857" in finding.solution


def test_45_minutes_billed_52_00_gain_37_55_with_one_8859() -> None:
    [finding] = run([visit("10:00", "10:45", "52.00")])
    assert finding.monetary_impact == Decimal("37.55")
    assert "8857 + 1 × 8859" in finding.solution and "89,55\u00a0$" in finding.message
    assert finding.data["codesToBill"] == {"8857": 1, "8859": 1}


def test_35_minutes_is_worth_59_70_only() -> None:
    [finding] = run([visit("10:00", "10:35", "42.50")])
    assert finding.data["interventionValue"] == "59.70"
    assert finding.data["codesToBill"] == {"8857": 1, "8859": 0}
    assert finding.monetary_impact == Decimal("17.20")


def test_29_minutes_give_nothing() -> None:
    assert run([visit("10:00", "10:29", "10.00")]) == []


def test_end_before_start_gives_nothing() -> None:
    assert run([visit("10:30", "10:00", "10.00")]) == []


def test_visit_billed_more_than_the_intervention_gives_nothing() -> None:
    assert run([visit("10:00", "11:00", "149.25"), visit("10:00", "11:00", "200.00")]) == []


def test_each_full_15_minutes_adds_an_8859() -> None:
    assert intervention_value(59) == (Decimal("89.55"), 1)
    assert intervention_value(60) == (Decimal("119.40"), 2)


@pytest.mark.parametrize("code", ["8857", "8859", "19928"])
def test_intervention_and_non_consultation_codes_give_nothing(code: str) -> None:
    row = make_row(code=code, start="10:00", end="11:00", claimed="10.00")
    assert run([row]) == []


@pytest.mark.parametrize(("start", "end"), [(None, "11:00"), ("10:00", None), ("00:00", "11:00")])
def test_rows_without_both_times_give_nothing(start: str | None, end: str | None) -> None:
    row = make_row(code="15804", start=start, end=end, claimed="10.00")
    assert run([row]) == []


def test_row_without_preliminary_amount_gives_nothing() -> None:
    assert run([make_row(code="15804", start="10:00", end="11:00", claimed=None)]) == []


@pytest.mark.parametrize("codes", [None, frozenset()])
def test_without_codes_table_the_rule_says_once_it_was_skipped(
    codes: frozenset[str] | None,
) -> None:
    rows = [visit("10:00", "11:00", "10.00"), visit("13:00", "14:00", "10.00")]
    [finding] = run(rows, ReferenceData(consultation_codes=codes))
    assert (finding.scenario, finding.severity) == ("SKIPPED", Severity.INFO)
    assert finding.monetary_impact == Decimal("0.00")


def test_findings_are_sorted_by_row() -> None:
    rows = [visit("10:00", "10:30", "1.00", row_number=n) for n in (9, 3, 5)]
    assert [f.rows for f in run(rows)] == [(3,), (5,), (9,)]


CODES = ("15804", "15804", "00093", "8857")


@given(rows_of(CODES), st.randoms(use_true_random=False))
def test_shuffling_rows_gives_the_same_findings(rows: list[BillingRow], rnd: random.Random) -> None:
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    assert run(shuffled) == run(rows)


@given(rows_of(CODES))
def test_arbitrary_rows_never_raise(rows: list[BillingRow]) -> None:
    for finding in run(rows):
        assert finding.rule == "visit-duration"
        assert finding.monetary_impact > 0
    assert [f.scenario for f in run(rows, ReferenceData())] == ["SKIPPED"]
