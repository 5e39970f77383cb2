"""Rules that keep rows per group do O(1) work per row, however large the group.

One group (a doctor-day, a patient-year) of 10,000 rows, then of 40,000: the rule's CPU time
(feed and finish, best of 3, the cyclic garbage collector paused as in the job) must grow about
4 times, not the ~16 times of a rule that copies its group on every row. The bound, 8, leaves
room for the sort at `finish` and for a noisy machine. These are ratios, not absolute times.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from datetime import date, timedelta

import pytest

from tests.support.factories import make_row
from validateur.validation.engine import ReferenceData
from validateur.validation.rows import BillingRow
from validateur.validation.rules import build_rules

SMALL, LARGE = 10_000, 40_000
MAX_RATIO = 8.0
GMF = ReferenceData(gmf_establishments=frozenset({"50001"}))


def clinical_day(n: int) -> list[BillingRow]:
    """`n` unpaid 8857 of one doctor on one day."""
    return [make_row(code="8857", paid="0", row_number=k + 1) for k in range(n)]


def annual_group(n: int) -> list[BillingRow]:
    """`n` 15815 of one patient in one year, every other one paid."""
    return [
        make_row(code="15815", paid="49.15" if k % 2 else "0", row_number=k + 1) for k in range(n)
    ]


def forfait_group(n: int) -> list[BillingRow]:
    """`n` 8875 of one patient in one year, every third one unpaid."""
    return [
        make_row(code="8875", paid="0" if k % 3 else "9.35", row_number=k + 1) for k in range(n)
    ]


def office_day(n: int) -> list[BillingRow]:
    """One doctor-day of 20 visits and `n` fees of both codes and both groups."""
    rows = [make_row(code="15804", patient=k, row_number=k + 1) for k in range(20)]
    for k in range(20, n):
        code, context = ("19928", "G160") if k % 2 else ("19929", "")
        rows.append(make_row(code=code, context=context, row_number=k + 1))
    return rows


def office_days_hopping(n: int) -> list[BillingRow]:
    """`n` visits spread over 100 doctor-days, each row on another day than the row before
    (more days than the rule keeps open): every day's patients grow with `n`."""
    days = [date(2025, 1, 1) + timedelta(days=k) for k in range(100)]
    return [make_row(patient=k, day=days[k % 100], row_number=k + 1) for k in range(n)]


#: Case → (rule, rows of one large group for a size, reference data).
GROUPS: dict[str, tuple[str, Callable[[int], list[BillingRow]], ReferenceData]] = {
    "clinical-minutes": ("clinical-minutes", clinical_day, ReferenceData()),
    "annual-code": ("annual-code", annual_group, ReferenceData()),
    "gmf-8875": ("gmf-8875", forfait_group, GMF),
    "office-fee": ("office-fee", office_day, ReferenceData()),
    "office-fee, rows hopping between days": ("office-fee", office_days_hopping, ReferenceData()),
}


def cpu_seconds(slug: str, reference: ReferenceData, rows: list[BillingRow]) -> float:
    """Best of 3: a fresh rule fed `rows`, then its findings consumed."""
    best = float("inf")
    for _ in range(3):
        gc.disable()
        try:
            start = time.process_time()
            [rule] = build_rules(reference, only=[slug])
            for row in rows:
                rule.feed(row)
            for _finding in rule.finish():
                pass
            best = min(best, time.process_time() - start)
        finally:
            gc.enable()
    return best


@pytest.mark.parametrize("case", sorted(GROUPS))
def test_one_large_group_costs_linear_time(case: str) -> None:
    slug, make_rows, reference = GROUPS[case]
    small, large = make_rows(SMALL), make_rows(LARGE)
    ratio = cpu_seconds(slug, reference, large) / cpu_seconds(slug, reference, small)
    assert ratio < MAX_RATIO, f"{LARGE:,} rows cost {ratio:.1f} × {SMALL:,} rows"
