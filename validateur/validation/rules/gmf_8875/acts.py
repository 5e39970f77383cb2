"""The acts `gmf-8875` keeps until `finish`, as columns (`rules/columns.py`).

A file of a million rows has a first GMF visit for most of its patient-years (about 120,000
in the sample): kept as an `Act` tuple with the row's own row-number int and claim string,
each cost about 270 bytes with its dict entry (measured with `tracemalloc`: 53 MiB for
1.3 million rows). Here an act is a row in four columns: its date (a reference to the date
the reader shares), its row number (4 bytes), its claim (8 bytes, `Claims`) and its *kind*,
the index of its (code, paid, doctor, `Doctor Info`) among the few distinct ones of the file
(4 bytes); the rule's dicts hold an act's index. The `Act` tuple is rebuilt only when a
finding is written. The rule reads `days`, `rows` and `claims` directly on its hot path (a
method call per visit row cost more than the comparison itself).
"""

from __future__ import annotations

from array import array
from datetime import date

from validateur.validation.rows import BillingRow
from validateur.validation.rules.columns import Claims, Interned
from validateur.validation.rules.gmf_8875.messages import Act

#: What acts share: (code, paid, `BillingRow.doctor`, `Doctor Info`).
Kind = tuple[str, bool, str, str]


class Acts:
    """Acts by index: `add(row, day, code)` keeps one, `acts[i]` gives its `Act` back."""

    __slots__ = ("_kinds", "claims", "days", "kinds", "rows")

    def __init__(self) -> None:
        self.days: list[date] = []
        self.rows = array("i")  # row numbers: a file has far fewer than 2**31 rows
        self.claims = Claims()
        self._kinds = array("i")
        self.kinds: Interned[Kind] = Interned()

    def add(self, row: BillingRow, day: date, code: str) -> int:
        """Keep the act of `row` (its `code` is one of the rule's shared strings); its index."""
        self.days.append(day)
        self.rows.append(row.row_number)
        self.claims.append(row.claim)
        self._kinds.append(self._kind(row, code))
        return len(self.rows) - 1

    def replace(self, index: int, row: BillingRow, day: date, code: str) -> None:
        """Put the act of `row` in place of act `index` (an earlier visit of its group)."""
        self.days[index] = day
        self.rows[index] = row.row_number
        self.claims[index] = row.claim
        self._kinds[index] = self._kind(row, code)

    def _kind(self, row: BillingRow, code: str) -> int:
        return self.kinds.index((code, row.is_paid, row.doctor, row.doctor_info))

    def __getitem__(self, index: int) -> Act:
        code, paid, doctor, info = self.kinds.values[self._kinds[index]]
        return (self.days[index], self.rows[index], self.claims[index], code, paid, doctor,
                info)
