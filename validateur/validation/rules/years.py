"""The calendar year of a service date, as one shared int object per year.

Rules that group by (patient, year) keep one key per group, and `day.year` makes a new int
object (32 bytes) on every call: over hundreds of thousands of keys that adds up. The reader
shares one date object per date text, so a small dict from date to year answers quickly.
"""

from __future__ import annotations

from datetime import date

#: Distinct dates remembered before starting over (a file spans a few hundred days).
MAX_DATES = 10_000


class Years:
    """`years.of(day)` = `day.year`, the same int object for every date of a year."""

    __slots__ = ("_by_date", "_ints")

    def __init__(self) -> None:
        self._by_date: dict[date, int] = {}
        self._ints: dict[int, int] = {}

    def of(self, day: date) -> int:
        year = self._by_date.get(day)
        if year is None:
            year = self._ints.setdefault(day.year, day.year)
            if len(self._by_date) >= MAX_DATES:
                self._by_date.clear()
            self._by_date[day] = year
        return year
