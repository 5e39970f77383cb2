"""The doctor-days of `office-fee`: who was seen, registered or walk-in, paid or not.

A million rows make tens of thousands of doctor-days of about 30 patients each. Kept as three
sets of each row's own patient string, they cost several kB a day (hundreds of MB); here:

- an open day maps each patient to `REGISTERED | WALK_IN | PAID` bits in one small dict of
  atomic values (which the garbage collector does not track);
- only the `OPEN_DAYS` days used last stay open. An older day is packed: its patients joined in
  one string (a tuple if one of them holds the separator) and their marks in a `bytes`, about
  450 bytes a day. A row of a packed day unpacks it first, so the counts never depend on row
  order; exports are sorted by day or doctor, so that is rare;
- counts are `bytes.count` calls over the marks.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from validateur.validation.rows import BillingRow
from validateur.validation.rules.office_fee_messages import Counts, Fee

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
    """One doctor-day: marks per patient (open) or patients + marks (packed), and its fees."""

    __slots__ = ("doctor_info", "fees", "marks", "packed", "patients")

    def __init__(self, doctor_info: str) -> None:
        self.doctor_info = doctor_info  # kept only to mask it; smallest text wins (order-free)
        self.marks: dict[str, int] | None = {}
        self.patients: str | tuple[str, ...] = ""
        self.packed = b""
        self.fees: tuple[Fee, ...] = ()

    def counts(self) -> Counts:
        marks = bytes(self.marks.values()) if self.marks is not None else self.packed
        count = marks.count
        both = count(REGISTERED | WALK_IN | PAID)
        rp, wp = count(REGISTERED | PAID) + both, count(WALK_IN | PAID) + both
        unpaid_both = count(REGISTERED | WALK_IN)
        return Counts(rp, count(REGISTERED) + unpaid_both, wp, count(WALK_IN) + unpaid_both)

    def pack(self) -> None:
        marks = self.marks
        if marks:
            joined = SEPARATOR.join(marks)
            self.patients = joined if joined.count(SEPARATOR) == len(marks) - 1 else tuple(marks)
            self.packed = bytes(marks.values())
        self.marks = None

    def unpack(self) -> dict[str, int]:
        if self.marks is None:
            packed = self.patients
            patients = packed.split(SEPARATOR) if isinstance(packed, str) and packed else packed
            self.marks = dict(zip(patients, self.packed, strict=True))
            self.patients, self.packed = "", b""
        return self.marks


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
        return state, state.unpack()

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
