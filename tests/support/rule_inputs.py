"""Rows that make every rule but `structure` produce each of its scenarios.

`CASES` maps a rule's slug to the lists of rows of its runs and the reference data they need;
the inputs carry the counts the rules' texts write at 0, 1, 2 or more and in the thousands,
and rows without a claim number. Used by the wording checks and the claim-privacy checks.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from itertools import count, product

from tests.support.factories import make_row
from validateur.validation.engine import ReferenceData
from validateur.validation.rows import BillingRow

GMF_AND_CODES = ReferenceData(
    consultation_codes=frozenset({"15804"}), gmf_establishments=frozenset({"50001"})
)
_rows = count(1)
_patients = count(1)


def row(**cells: object) -> BillingRow:
    """A row numbered in one sequence across the test; `id_ramq=""` leaves it without one."""
    id_ramq = cells.pop("id_ramq", None)
    made = make_row(row_number=next(_rows), **cells)  # type: ignore[arg-type]
    if id_ramq == "":
        made.id_ramq = made.claim = ""
    return made


def doctor(n: int) -> str:
    return f"{1000000 + n:07d}-12345 | Nom{n}, Marie - Omnipraticien"


#: Office-fee doctor-days: paid / unpaid registered and walk-in patients, then the fees.
REGISTERED_PAID = (0, 1, 2, 5, 6, 12, 15)
WALK_IN_PAID = (0, 1, 2, 9, 10, 20, 23)
UNPAID = (0, 1, 2)
FEE_SETS: tuple[tuple[tuple[str, bool, str], ...], ...] = (
    (),
    (("19928", False, "50001"),),
    (("19928", True, "50001"),),
    (("19929", False, "50001"),),
    (("19929", True, "50001"),),
    (("19928", False, "50001"), ("19928", True, "50001")),
    (("19929", False, "50001"), ("19929", True, "50001")),
    (("19928", False, "50001"), ("19929", True, "50001")),
    (("19929", False, "50001"), ("19928", True, "50001")),
    (("19928", False, "50001"), ("19928", False, "50001"), ("19929", True, "50001")),
    (("19928", False, "20001"),),
    (("19929", True, "30001"),),
)


def office_day(
    n: int, rp: int, ru: int, wp: int, wu: int, fees: tuple[tuple[str, bool, str], ...]
) -> list[BillingRow]:
    day, who = date(2025, 1, 1) + timedelta(days=n // 50), doctor(n % 50)
    out = []
    for size, walk_in, paid in (
        (rp, False, "49.15"),
        (ru, False, "0"),
        (wp, True, "49.15"),
        (wu, True, "0"),
    ):
        out += [
            row(
                patient=next(_patients),
                day=day,
                doctor=who,
                paid=paid,
                context="G160" if walk_in else "",
            )
            for _ in range(size)
        ]
    for k, (code, walk_in, place) in enumerate(fees):
        out.append(
            row(
                code=code,
                day=day,
                doctor=who,
                place=place,
                context="AR" if walk_in else "",
                id_ramq="" if n % 7 == 0 and k == 0 else None,
            )
        )
    return out


def office_fee_runs() -> list[list[BillingRow]]:
    grid = product(REGISTERED_PAID, UNPAID, WALK_IN_PAID, UNPAID, FEE_SETS)
    big = [row for n, shape in enumerate(grid) for row in office_day(n, *shape)]
    one_error = office_day(0, 3, 0, 0, 0, (("19928", False, "50001"),))
    two_optimizations = office_day(1, 15, 0, 0, 0, (("19928", False, "50001"),))
    two_optimizations += office_day(2, 15, 0, 0, 0, (("19928", False, "50001"),))
    one_optimization = office_day(3, 13, 0, 0, 0, ())
    return [big, [], one_error, two_optimizations, one_optimization]


def annual_code_runs() -> list[list[BillingRow]]:
    """Groups of 1 to 4 rows with every paid count, one or two codes, with or without IDs."""
    groups: list[BillingRow] = []
    for size, codes, blank in product(
        (1, 2, 3, 4), (("15815",), ("15801", "15816")), (False, True)
    ):
        for paid in range(size + 1):
            patient = next(_patients)
            groups += [
                row(
                    code=codes[k % len(codes)],
                    patient=patient,
                    day=f"2025-0{k + 1}-10",
                    paid="49.15" if k < paid else "0",
                    id_ramq="" if blank and k == 1 else None,
                )
                for k in range(size)
            ]
    many = [row(code="15819", patient=next(_patients)) for _ in range(1_234)]
    one = [row(code="15815", patient=next(_patients))]
    two_e1 = [row(code="15815", patient=7, day=f"2025-0{m}-01") for m in (1, 2)]
    return [groups + many, one, two_e1]


def gmf_runs() -> list[list[BillingRow]]:
    rows: list[BillingRow] = []
    for extra, paid, blank in product((1, 2), ("9.35", "0"), (False, True)):
        patient = next(_patients)
        rows.append(row(code="8875", patient=patient, day="2025-02-01", paid="9.35"))
        rows += [
            row(
                code="8875",
                patient=patient,
                day=f"2025-0{3 + k}-01",
                paid=paid,
                id_ramq="" if blank else None,
            )
            for k in range(extra)
        ]
    rows.append(row(code="8857", patient=next(_patients), day="2025-04-01"))
    rows.append(row(code="15804", patient=next(_patients), day="2025-04-01", id_ramq=""))
    return [rows]


def clinical_runs() -> list[list[BillingRow]]:
    """Doctor-days over 180 minutes: 1 or several lines, excess 1 or more, 0 to 2 unpaid."""
    rows: list[BillingRow] = []
    shapes = product((1, 2, 7), (0, 1, 2), (False, True))
    for n, (lines, unpaid, blank) in enumerate(shapes, start=1):
        who = doctor(n)
        shape = (
            [("8859", 181)]
            if lines == 1
            else [("8859", 150), ("8859", 31)]
            if lines == 2
            else [("8857", None)] * 7
        )
        rows += [
            row(
                code=code,
                units=units,
                doctor=who,
                claimed="29.85",
                paid="0" if k < unpaid else "29.85",
                id_ramq="" if blank and k == 0 else None,
            )
            for k, (code, units) in enumerate(shape)
        ]
    rows.append(row(code="8859", units=1_000_000, doctor=doctor(999), paid="0"))
    return [rows]


def visit_runs() -> list[list[BillingRow]]:
    return [
        [
            row(code="15804", start="10:00", end=end, claimed="20.00", id_ramq=blank)
            for end in ("10:30", "10:45", "11:15")
            for blank in (None, "")
        ]
    ]


CASES: dict[str, tuple[Callable[[], list[list[BillingRow]]], ReferenceData]] = {
    "office-fee": (office_fee_runs, ReferenceData()),
    "annual-code": (annual_code_runs, ReferenceData()),
    "gmf-8875": (gmf_runs, GMF_AND_CODES),
    "clinical-minutes": (clinical_runs, ReferenceData()),
    "visit-duration": (visit_runs, GMF_AND_CODES),
}
