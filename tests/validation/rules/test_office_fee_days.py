"""`office-fee` doctor-days packed when idle: the findings never depend on it."""

from __future__ import annotations

from datetime import date, timedelta
from random import Random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.factories import make_row
from tests.support.office_fee_shapes import office_fee_rows
from tests.support.rules import feed_all
from validateur.validation.engine import ReferenceData
from validateur.validation.findings import Finding
from validateur.validation.rows import BillingRow
from validateur.validation.rules.office_fee import OfficeFeeRule
from validateur.validation.rules.office_fee import days as office_fee_days
from validateur.validation.rules.office_fee.days import (
    PAID,
    REGISTERED,
    WALK_IN,
    DoctorDay,
)
from validateur.validation.rules.office_fee.messages import Counts


def run(rows: list[BillingRow]) -> list[Finding]:
    return feed_all(OfficeFeeRule(ReferenceData()), rows)


@settings(max_examples=150, deadline=None)
@given(office_fee_rows(), st.randoms(use_true_random=False))
def test_packing_every_idle_day_changes_nothing(original: list[BillingRow], random: Random) -> None:
    shuffled = list(original)
    random.shuffle(shuffled)
    expected = run(shuffled)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(office_fee_days, "OPEN_DAYS", 1)
        assert run(shuffled) == expected


def test_days_interleaved_beyond_the_open_ones_keep_their_patients() -> None:
    days = [date(2025, 3, 3) + timedelta(days=n) for n in range(office_fee_days.OPEN_DAYS + 5)]
    visits = [make_row(patient=p, day=day) for p in range(8) for day in days]  # day after day
    visits += [make_row(patient=p, day=day, paid="0") for p in range(4) for day in days]
    fees = [make_row(code="19928", day=day, paid="32.40", claimed="32.40") for day in days]
    findings = run(visits + fees)
    assert [f.scenario for f in findings].count("P1") == len(days)
    assert all(f.data["registeredPaid"] == 8 for f in findings if f.scenario == "P1")


@pytest.mark.parametrize(
    "patients",
    [["TEST00000001", "TEST00000002"], ["A\x1fB", "C"], ["solo"], []],
)
def test_pack_then_merge_gives_the_same_marks(patients: list[str]) -> None:
    state = DoctorDay("")
    marks = state.reopen()
    for n, patient in enumerate(patients):
        marks[hash(patient)] = 1 + n % 7
    counts = state.counts()
    state.pack()
    assert state.marks is None and state.counts() == counts
    assert state.merged() == {hash(patient): 1 + n % 7 for n, patient in enumerate(patients)}
    assert len(state.patients) == 8 * len(patients)  # 64-bit hashes, no patient's text


def test_a_reopened_day_adds_its_new_rows_and_ors_the_marks_of_known_patients() -> None:
    one, two, three = hash("P1"), hash("P2"), hash("P3")
    state = DoctorDay("")
    state.reopen().update({one: REGISTERED, two: WALK_IN | PAID})
    state.pack()
    assert state.reopen() == {}  # O(1): the packed part stays packed
    state.marks = {one: REGISTERED | PAID, three: WALK_IN}
    state.pack()
    assert state.merged() == {one: REGISTERED | PAID, two: WALK_IN | PAID, three: WALK_IN}
    assert state.counts() == Counts(rp=1, ru=0, wp=1, wu=1)


def test_parts_are_merged_once_they_hold_twice_the_day_s_patients() -> None:
    state = DoctorDay("")
    state.reopen().update({hash(f"P{n}"): REGISTERED for n in range(10)})
    state.pack()
    for n in range(100):  # each reopening sees one known patient again
        state.reopen()[hash(f"P{n % 10}")] = PAID | REGISTERED
        state.pack()
        assert len(state.packed) <= 2 * 10 + 1
    assert state.counts() == Counts(rp=10, ru=0, wp=0, wu=0)
