"""Cells of one CSV record → one typed `BillingRow` (the reader's hot path).

Billing files repeat the same dates, times, amounts, contexts, doctors and patients over and
over, so every parse goes through a per-reader dict keyed by the cell text. The caches are
bounded (`MAX_CACHED` entries each, emptied when full) so memory does not grow with the file,
and they belong to one reader, so no cell text outlives the run in a worker process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from datetime import date, time
from decimal import Decimal
from enum import Enum
from operator import itemgetter
from typing import Final, TypeVar

from validateur.validation.cells import (
    MAX_CLAIM_LENGTH,
    NAM_AT_START,
    AmountOutOfRange,
    claim_number,
    context_tokens,
    doctor_identity,
    parse_amount,
    parse_date,
    parse_time,
    parse_units,
)
from validateur.validation.rows import BillingRow, Column, Problem, RowProblem

MAX_CACHED = 50_000

T = TypeVar("T")


class _Invalid(Enum):
    INVALID = 0


_INVALID: Final = _Invalid.INVALID

_MISSING_DATE = RowProblem(Problem.MISSING_VALUE, Column.DATE_SERVICE)
_MISSING_CODE = RowProblem(Problem.MISSING_VALUE, Column.CODE)
_MISSING_DOCTOR = RowProblem(Problem.MISSING_VALUE, Column.DOCTOR_INFO)
_INVALID_DATE = RowProblem(Problem.INVALID_DATE, Column.DATE_SERVICE)
_INVALID_DEBUT = RowProblem(Problem.INVALID_TIME, Column.DEBUT)
_INVALID_FIN = RowProblem(Problem.INVALID_TIME, Column.FIN)
_INVALID_PRELIMINAIRE = RowProblem(Problem.INVALID_AMOUNT, Column.MONTANT_PRELIMINAIRE)
_INVALID_PAYE = RowProblem(Problem.INVALID_AMOUNT, Column.MONTANT_PAYE)
_HUGE_PRELIMINAIRE = RowProblem(Problem.AMOUNT_OUT_OF_RANGE, Column.MONTANT_PRELIMINAIRE)
_HUGE_PAYE = RowProblem(Problem.AMOUNT_OUT_OF_RANGE, Column.MONTANT_PAYE)
_EXTRA_CELLS = RowProblem(Problem.EXTRA_CELLS)
_INVALID_CLAIM = RowProblem(Problem.INVALID_CLAIM, Column.ID_RAMQ)


def _parse(cache: dict[str, T | _Invalid], parse: Callable[[str], T], text: str) -> T | _Invalid:
    """Parse `text` (a cache miss), remember the result, keep the cache bounded."""
    try:
        value: T | _Invalid = parse(text)
    except ValueError:
        value = _INVALID
    if len(cache) >= MAX_CACHED:
        cache.clear()
    cache[text] = value
    return value


def _parse_amount(cache: dict[str, Decimal | _Invalid | None], huge: set[str],
                  text: str) -> Decimal | _Invalid | None:
    """`_parse` for amounts: an amount out of range (`cells.MAX_AMOUNT`) is `_INVALID` too,
    and its text goes to `huge`, so the hot path keeps one check per amount."""
    if len(cache) >= MAX_CACHED:
        cache.clear()
        huge.clear()
    try:
        value: Decimal | _Invalid | None = parse_amount(text)
    except AmountOutOfRange:
        value = _INVALID
        huge.add(text)
    except ValueError:
        value = _INVALID
    cache[text] = value
    return value


def _remember(cache: dict[str, T], parse: Callable[[str], T], text: str) -> T:
    """Same as `_parse` for parsers that never fail."""
    value = parse(text)
    if len(cache) >= MAX_CACHED:
        cache.clear()
    cache[text] = value
    return value


def row_builder(
    columns: dict[Column, int], header_size: int
) -> Callable[[int, list[str], int], BillingRow | None]:
    """A `build(row_number, cells, line)` for one file layout; None for a blank record.

    A closure rather than a class: the hot path reads its state from local cells, not
    attributes (measurably faster at a million rows).
    """
    size = header_size
    width = header_size + 1  # the extra last cell is always "": where absent columns point
    texts_of = itemgetter(*(columns.get(column, header_size) for column in Column))
    pads = [[""] * n for n in range(width + 1)]
    dates: dict[str, date | _Invalid | None] = {}
    times: dict[str, time | _Invalid | None] = {}
    amounts: dict[str, Decimal | _Invalid | None] = {}
    huge: set[str] = set()  # amount texts out of range (their cached value is `_INVALID`)
    units: dict[str, int | None] = {}
    contexts: dict[str, frozenset[str]] = {}
    doctors: dict[str, str] = {}
    nam_at_start = NAM_AT_START.match

    def build(row_number: int, cells: list[str], line: int = 0) -> BillingRow | None:
        problems: list[RowProblem] = []
        count = len(cells)
        if count < width:
            cells += pads[width - count]
        elif count > size:
            if any(cell.strip() for cell in cells[size:]):
                problems.append(_EXTRA_CELLS)
            del cells[size:]
            cells.append("")
        (facture, id_ramq, date_text, debut_text, fin_text, periode, lieu, secteur, diagnostic,
         code, unites_text, role, contexte, preliminaire_text, paye_text, doctor_info,
         patient) = texts_of(cells)  # fmt: skip
        if not (date_text or code or doctor_info) and not any(cell.strip() for cell in cells):
            return None

        try:
            day = dates[date_text]
        except KeyError:
            day = _parse(dates, parse_date, date_text)
        if day is _INVALID:
            problems.append(_INVALID_DATE)
            day = None
        elif day is None:
            problems.append(_MISSING_DATE)
        if not code or code.isspace():
            problems.append(_MISSING_CODE)
        try:
            doctor = doctors[doctor_info]
        except KeyError:
            doctor = _remember(doctors, doctor_identity, doctor_info)
        if not doctor:
            problems.append(_MISSING_DOCTOR)

        try:
            debut = times[debut_text]
        except KeyError:
            debut = _parse(times, parse_time, debut_text)
        if debut is _INVALID:
            problems.append(_INVALID_DEBUT)
            debut = None
        try:
            fin = times[fin_text]
        except KeyError:
            fin = _parse(times, parse_time, fin_text)
        if fin is _INVALID:
            problems.append(_INVALID_FIN)
            fin = None
        try:
            preliminaire = amounts[preliminaire_text]
        except KeyError:
            preliminaire = _parse_amount(amounts, huge, preliminaire_text)
        if preliminaire is _INVALID:
            problems.append(
                _HUGE_PRELIMINAIRE if preliminaire_text in huge else _INVALID_PRELIMINAIRE
            )
            preliminaire = None
        try:
            paye = amounts[paye_text]
        except KeyError:
            paye = _parse_amount(amounts, huge, paye_text)
        if paye is _INVALID:
            problems.append(_HUGE_PAYE if paye_text in huge else _INVALID_PAYE)
            paye = None

        try:
            unites = units[unites_text]
        except KeyError:
            unites = _remember(units, parse_units, unites_text)
        try:
            context = contexts[contexte]
        except KeyError:
            context = _remember(contexts, context_tokens, contexte)
        if id_ramq.isdigit() and id_ramq.isascii() and len(id_ramq) <= MAX_CLAIM_LENGTH:
            claim = id_ramq  # the usual case, without a call
        else:
            claim = claim_number(id_ramq)
            if claim is None:  # not shown anywhere: it may be a name in the wrong column
                problems.append(_INVALID_CLAIM)
                claim = ""
        nam = nam_at_start(patient)
        patient_id = nam.group(1).upper() if nam else patient.strip()

        # Positional on purpose (4x faster than keywords); the order is checked at import.
        return BillingRow(
            row_number,
            line,
            facture,
            id_ramq,
            date_text,
            debut_text,
            fin_text,
            periode,
            lieu,
            secteur,
            diagnostic,
            code,
            unites_text,
            role,
            contexte,
            preliminaire_text,
            paye_text,
            doctor_info,
            patient,
            day,
            debut,
            fin,
            unites,
            preliminaire,
            paye,
            context,
            claim,
            doctor,
            patient_id,
            tuple(problems) if problems else (),
        )

    return build


def _check_field_order() -> None:
    """`row_builder` passes BillingRow fields by position: fail loudly if rows.py reorders them."""
    texts = [f"{c.value}_text" if c.value in _TYPED else c.value for c in Column]
    expected = ["row_number", "line", *texts, *_TYPED_FIELDS]
    if [f.name for f in fields(BillingRow)] != expected:
        raise RuntimeError("BillingRow fields changed: update row_builder (rowbuilder.py)")


_TYPED = {"date_service", "debut", "fin", "unites", "montant_preliminaire", "montant_paye"}
_TYPED_FIELDS = (
    "date_service", "debut", "fin", "unites", "montant_preliminaire", "montant_paye",
    "context", "claim", "doctor", "patient_id", "problems",
)  # fmt: skip
_check_field_order()
