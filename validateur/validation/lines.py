"""Row number → line in the file, for the findings whose rule did not keep the lines.

A row's line (`BillingRow.line`) is its row number plus an offset: the lines before the
header, the header, and the blank lines skipped so far. The offset only grows, and only at a
blank line, so the map keeps one (first row, offset) pair per change: one pair for a file
without blank lines, whatever its size. A batch whose first and last rows have the current
offset has no change in between and costs two subtractions.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Sequence

from validateur.validation.rows import BillingRow


class LineMap:
    """Learns from the rows as they are read; answers the lines of a finding's rows."""

    __slots__ = ("_offset", "_offsets", "_starts")

    def __init__(self) -> None:
        self._starts = array("q")
        self._offsets = array("q")
        self._offset: int | None = None

    def add(self, rows: Sequence[BillingRow]) -> None:
        """Take one batch of rows, in file order."""
        if not rows:
            return
        offset = self._offset
        first, last = rows[0], rows[-1]
        if first.line - first.row_number == offset and last.line - last.row_number == offset:
            return
        for row in rows:
            shift = row.line - row.row_number
            if shift != offset:
                self._starts.append(row.row_number)
                self._offsets.append(shift)
                offset = shift
        self._offset = offset

    def lines(self, rows: Sequence[int]) -> tuple[int, ...]:
        """The file lines of `rows` (row numbers the map has seen); () when it saw none."""
        starts, offsets = self._starts, self._offsets
        if not starts:
            return ()
        if len(starts) == 1:
            return tuple(row + offsets[0] for row in rows)
        return tuple(row + offsets[max(bisect_right(starts, row) - 1, 0)] for row in rows)
