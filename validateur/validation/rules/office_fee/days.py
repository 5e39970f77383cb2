"""The doctor-days of `office-fee`: who was seen, registered or walk-in, paid or not.

A million rows make tens of thousands of doctor-days of about 30 patients each. Kept as three
sets of each row's own patient string, they cost several kB a day (hundreds of MB); here:

- an open day maps each patient to `REGISTERED | WALK_IN | PAID` bits in one small dict of
  atomic values (which the garbage collector does not track);
- only the `OPEN_DAYS` days used last stay open. An older day is packed: its patients joined in
  one string (a tuple if one of them holds the separator) and their marks in a `bytes`, about
  450 bytes a day;
- a row of a packed day reopens it with an empty dict of what comes next, packed after the
  rest when the day is closed again: a row costs O(1) even in a file whose rows hop from day
  to day (sorted by patient, say), where unpacking the whole day on every row cost O(patients
  of the day). A patient may then sit in several packed parts: marks are OR-ed together when
  the day is counted, and once its parts hold twice as many entries as the day had distinct
  patients, a reopening merges them first (O(1) per row amortised, and at most about twice
  the memory). Closing a reopened day copies its packed bytes (a `memcpy` of about 0.5 kB),
  never the patients' strings one by one;
- counts are `bytes.count` calls over the merged marks, so they never depend on row order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from validateur.validation.rows import BillingRow
from validateur.validation.rules.office_fee.messages import Counts, Fee

#: Marks of a patient in a doctor-day (bits): a registered visit, a walk-in visit, paid.
REGISTERED, WALK_IN, PAID = 1, 2, 4
#: Doctor-days kept unpacked (the ones used last).
OPEN_DAYS = 64
#: Joins the patients of a packed day (a tuple is kept if a patient id contains it).
SEPARATOR = "\x1f"
#: Distinct `Montant payé` values remembered by `paid_mark` before starting over.
MAX_AMOUNTS = 4_096

DayKey = tuple[date, str]


class DoctorDay:
    """One doctor-day: marks per patient (open) and/or packed parts, and its fees."""

    __slots__ = ("_fees", "distinct", "doctor_info", "marks", "packed", "patients")

    def __init__(self, doctor_info: str) -> None:
        self.doctor_info = doctor_info  # kept only to mask it; smallest text wins (order-free)
        self.marks: dict[str, int] | None = {}  # the open part (None: closed)
        self.patients: str | tuple[str, ...] = ""  # the packed parts' patients...
        self.packed = b""  # ...and their marks, entry by entry
        self.distinct = 0  # distinct patients when the packed parts were last merged
        self._fees: Fee | list[Fee] | None = None  # most days have one fee: kept as is

    def add_fee(self, fee: Fee) -> None:
        """Keep one more fee of the day: O(1), however many the day already has."""
        fees = self._fees
        if fees is None:
            self._fees = fee
        elif isinstance(fees, list):
            fees.append(fee)
        else:
            self._fees = [fees, fee]

    @property
    def fees(self) -> Sequence[Fee]:
        """The day's fees, in the order they were read."""
        fees = self._fees
        if fees is None:
            return ()
        return fees if isinstance(fees, list) else (fees,)

    def counts(self) -> Counts:
        if not self.packed:  # never packed (or just merged): the open part is the day
            marks = bytes((self.marks or {}).values())
        elif self.marks is None and self.distinct == len(self.packed):  # packed once
            marks = self.packed
        else:
            marks = bytes(self.merged().values())
        count = marks.count
        both = count(REGISTERED | WALK_IN | PAID)
        rp, wp = count(REGISTERED | PAID) + both, count(WALK_IN | PAID) + both
        unpaid_both = count(REGISTERED | WALK_IN)
        return Counts(rp, count(REGISTERED) + unpaid_both, wp, count(WALK_IN) + unpaid_both)

    def merged(self) -> dict[str, int]:
        """Every patient of the day and their marks, packed parts and open part OR-ed."""
        merged: dict[str, int] = {}
        get = merged.get
        for patient, mark in zip(_entries(self.patients), self.packed, strict=True):
            merged[patient] = get(patient, 0) | mark
        for patient, mark in (self.marks or {}).items():
            merged[patient] = get(patient, 0) | mark
        return merged

    def pack(self) -> None:
        """Close the day: its open part goes after the packed parts."""
        marks = self.marks
        if marks:
            first = not self.packed
            joined = SEPARATOR.join(marks)
            if joined.count(SEPARATOR) != len(marks) - 1:
                self.patients = (*_entries(self.patients), *marks)
            elif first:
                self.patients = joined
            elif isinstance(self.patients, str):
                self.patients = self.patients + SEPARATOR + joined
            else:
                self.patients = (*self.patients, *marks)
            self.packed += bytes(marks.values())
            if first:
                self.distinct = len(marks)
        self.marks = None

    def reopen(self) -> dict[str, int]:
        """The open part of the day, for its next rows (an empty one if the day was packed)."""
        if self.marks is None:
            if len(self.packed) >= 2 * self.distinct:  # parts repeat patients: merge them
                self.marks = self.merged()
                self.patients, self.packed, self.distinct = "", b"", 0
            else:
                self.marks = {}
        return self.marks


def _entries(patients: str | tuple[str, ...]) -> tuple[str, ...] | list[str]:
    """The patients of the packed parts, one per mark."""
    if isinstance(patients, tuple):
        return patients
    return patients.split(SEPARATOR) if patients else []


class DayBook:
    """Every doctor-day of a run, the `OPEN_DAYS` used last unpacked."""

    __slots__ = ("_open", "days")

    def __init__(self) -> None:
        self.days: dict[DayKey, DoctorDay] = {}
        self._open: dict[DayKey, DoctorDay] = {}  # least recently used first

    def open(self, key: DayKey, doctor_info: str) -> tuple[DoctorDay, dict[str, int]]:
        """The day of `key` (created on its first row), unpacked, and its marks."""
        opened = self._open
        state = opened.pop(key, None)
        if state is None:
            state = self.days.get(key)
            if state is None:
                state = self.days[key] = DoctorDay(doctor_info)
            if len(opened) >= OPEN_DAYS:
                self._pack_oldest()
        opened[key] = state
        return state, state.reopen()

    def _pack_oldest(self) -> None:
        self._open.pop(next(iter(self._open))).pack()


def paid_mark(cache: dict[Decimal | None, int], row: BillingRow) -> int:
    """`PAID` or 0 for a visit row, remembered in `cache` per `Montant payé` (bounded).

    `row.is_paid` is the slowest part of a visit; its answer depends only on the amount's value
    (equal Decimals share it) and the reader shares one Decimal per amount text, so the rule
    asks `cache` first. A signaling NaN cannot be hashed: it is answered, never remembered.
    """
    mark = PAID if row.is_paid else 0
    amount = row.montant_paye
    if amount is None or not amount.is_snan():
        if len(cache) >= MAX_AMOUNTS:
            cache.clear()
        cache[amount] = mark
    return mark
