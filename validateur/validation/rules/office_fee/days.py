"""The doctor-days of `office-fee`: who was seen, registered or walk-in, paid or not.

A million rows make tens of thousands of doctor-days of about 30 patients each. Kept as three
sets of each row's own patient string, they cost several kB a day (hundreds of MB); here:

- a patient is its 64-bit `hash(patient_id)` (stable within one process, which is all a run
  needs; two patients of one doctor-day alike on 64 bits: about n²/2⁶⁵, 10⁻¹⁶ for 30 patients),
  so the day keeps no patient's text;
- an open day maps each patient to `REGISTERED | WALK_IN | PAID` bits in one small dict of
  atomic values (which the garbage collector does not track);
- only the `OPEN_DAYS` days used last stay open. An older day is packed: its patients' hashes
  in one `bytes` of 64-bit integers and their marks in another, 9 bytes a patient (with the
  patients' texts joined in one string, 14 in the sample: the rule held 38.5 MiB after
  1.3 million rows, 31.9 MiB with hashes, measured with `tracemalloc`);
- a row of a packed day reopens it with an empty dict of what comes next, packed after the
  rest when the day is closed again: a row costs O(1) even in a file whose rows hop from day
  to day (sorted by patient, say), where unpacking the whole day on every row cost O(patients
  of the day). A patient may then sit in several packed parts: marks are OR-ed together when
  the day is counted, and once its parts hold twice as many entries as the day had distinct
  patients, a reopening merges them first (O(1) per row amortised, and at most about twice
  the memory). Closing a reopened day copies its packed bytes (a `memcpy` of about 0.3 kB),
  never the patients one by one;
- counts are `bytes.count` calls over the merged marks, so they never depend on row order.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from validateur.validation.rows import BillingRow
from validateur.validation.rules.office_fee.messages import Counts, Fee

#: Marks of a patient in a doctor-day (bits): a registered visit, a walk-in visit, paid.
REGISTERED, WALK_IN, PAID = 1, 2, 4
#: Doctor-days kept unpacked (the ones used last).
OPEN_DAYS = 64
#: Distinct `Montant payé` values remembered by `paid_mark` before starting over.
MAX_AMOUNTS = 4_096

DayKey = tuple[date, str]


class DoctorDay:
    """One doctor-day: marks per patient (open) and/or packed parts, and its fees."""

    __slots__ = ("_fees", "distinct", "doctor_info", "marks", "packed", "patients")

    def __init__(self, doctor_info: str) -> None:
        self.doctor_info = doctor_info  # kept only to mask it; smallest text wins (order-free)
        self.marks: dict[int, int] | None = {}  # the open part: patient hash → marks (None: closed)
        self.patients = b""  # the packed parts' patient hashes (64-bit integers)...
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

    def merged(self) -> dict[int, int]:
        """Every patient of the day and their marks, packed parts and open part OR-ed."""
        merged: dict[int, int] = {}
        get = merged.get
        patients = array("q")
        patients.frombytes(self.patients)
        for patient, mark in zip(patients, self.packed, strict=True):
            merged[patient] = get(patient, 0) | mark
        for patient, mark in (self.marks or {}).items():
            merged[patient] = get(patient, 0) | mark
        return merged

    def pack(self) -> None:
        """Close the day: its open part goes after the packed parts."""
        marks = self.marks
        if marks:
            first = not self.packed
            self.patients += array("q", marks).tobytes()
            self.packed += bytes(marks.values())
            if first:
                self.distinct = len(marks)
        self.marks = None

    def reopen(self) -> dict[int, int]:
        """The open part of the day, for its next rows (an empty one if the day was packed)."""
        if self.marks is None:
            if len(self.packed) >= 2 * self.distinct:  # parts repeat patients: merge them
                self.marks = self.merged()
                self.patients, self.packed, self.distinct = b"", b"", 0
            else:
                self.marks = {}
        return self.marks


class DayBook:
    """Every doctor-day of a run, the `OPEN_DAYS` used last unpacked."""

    __slots__ = ("_open", "days")

    def __init__(self) -> None:
        self.days: dict[DayKey, DoctorDay] = {}
        self._open: dict[DayKey, DoctorDay] = {}  # least recently used first

    def open(self, key: DayKey, doctor_info: str) -> tuple[DoctorDay, dict[int, int]]:
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
