"""Hypothesis strategies of `office-fee` rows: fees, visits and odd cells on a few doctor-days.

`office_fee_rows` is shared by the rule's property tests and those of its doctor-day packing
(`days.py`); the cell strategies also build arbitrary rows.
"""

from __future__ import annotations

from datetime import date

from hypothesis import strategies as st

from tests.support.factories import DOCTOR, make_row
from validateur.validation.rows import BillingRow

DAY = date(2025, 3, 10)
OTHER_DOCTOR = "7654321-54321 | Gagnon, Luc - Omnipraticien"
CODES = st.sampled_from(["15804", "15800", "19928", "19929", " 19928", "", "8857", "1992"])
CONTEXTS = st.sampled_from(["", "G160", "#g160", "85, AR", "AR,G160", "ARG", ",,", "#", " ; "])
PLACES = st.sampled_from(["50001", "20001", "", "5", "x", "30001 "])
DOCTORS = st.sampled_from([DOCTOR, OTHER_DOCTOR, "", "   ", "|", "12-"])
DAYS = st.sampled_from([DAY, date(2025, 3, 11), date(2024, 12, 31)])


@st.composite
def office_fee_rows(draw: st.DrawFn) -> list[BillingRow]:
    count = draw(st.integers(min_value=0, max_value=60))
    out = []
    for number in range(1, count + 1):
        paid = draw(st.sampled_from(["49.15", "0", "32.40", None]))
        out.append(
            make_row(
                code=draw(CODES),
                day=draw(DAYS),
                patient=draw(st.integers(0, 25)),
                doctor=draw(st.sampled_from([DOCTOR, OTHER_DOCTOR])),
                paid=paid,
                context=draw(CONTEXTS),
                place=draw(PLACES),
                row_number=number,
            )
        )
    return out
