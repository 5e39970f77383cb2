"""Hypothesis strategies of arbitrary typed rows, for the property tests of the rules.

Rows mix the codes a rule cares about with odd shapes: missing dates, amounts, times and units,
empty or padded codes, empty identities, odd contexts. Row numbers are unique, as the reader's.
"""

from __future__ import annotations

from datetime import date, time

from hypothesis import strategies as st

from tests.support.factories import make_row
from validateur.validation.rows import BillingRow

DOCTORS = ("1234567-12345 | Tremblay, Marie - Omni", "7654321-54321 | Roy, Luc - Omni", "")
CONTEXTS = ("", "ICEP", "EPICENE", "G160", "#ar", "85, GMFU", ",,", "MTA13,ICSM", "  ", "ICTOX")
AMOUNTS = (None, "0", "0.00", "-32.40", "49.15", "0.01", "1234.56")
PLACES = ("50001", "50002", "", "20001", " 50001 ")
UNITS = (None, -15, 0, 15, 60, 10**6)

_times = st.one_of(st.none(), st.times().map(lambda t: t.replace(microsecond=0)), st.just(time(0)))
_days = st.one_of(st.none(), st.dates(date(2024, 12, 28), date(2025, 1, 3)))
_patients = st.one_of(st.integers(1, 3), st.sampled_from(["", "inconnu", "ABCD"]))


@st.composite
def row_shape(draw: st.DrawFn, codes: tuple[str, ...]) -> dict[str, object]:
    """The cells of one row, as keyword arguments of `make_row` plus `day` possibly `None`."""
    return {
        "code": draw(st.sampled_from((*codes, "", " ABC", "19928"))),
        "day": draw(_days),
        "patient": draw(_patients),
        "doctor": draw(st.sampled_from(DOCTORS)),
        "paid": draw(st.sampled_from(AMOUNTS)),
        "claimed": draw(st.sampled_from(AMOUNTS)),
        "context": draw(st.sampled_from(CONTEXTS)),
        "place": draw(st.sampled_from(PLACES)),
        "start": draw(_times),
        "end": draw(_times),
        "units": draw(st.sampled_from(UNITS)),
        "id_ramq": draw(st.sampled_from([None, "", "12345678901", "12345678901"])),
    }


def build(shapes: list[dict[str, object]]) -> list[BillingRow]:
    """Typed rows numbered 1..n from shapes; a `None` day becomes a row without a date."""
    rows = []
    for number, shape in enumerate(shapes, start=1):
        cells = dict(shape)
        day = cells.pop("day")
        row = make_row(row_number=number, day=day or date(2025, 1, 1), **cells)  # type: ignore[arg-type]
        if day is None:
            row.date_service, row.date_service_text = None, ""
        rows.append(row)
    return rows


def rows_of(codes: tuple[str, ...], max_size: int = 40) -> st.SearchStrategy[list[BillingRow]]:
    """Lists of arbitrary rows, mostly with `codes`."""
    return st.lists(row_shape(codes), max_size=max_size).map(build)
