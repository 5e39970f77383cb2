"""Duplicate claims of the `structure` rule: the same (ID RAMQ, code) pair on several rows.

Finding duplicates needs one piece of state per distinct pair, and a file of a million rows
has about a million distinct pairs: a dict from pair (or its hash) to a row number costs about
115 bytes each. This log costs 16 to 28 (the bitmap 4 to 16 of them; measured with
`tracemalloc`: 21.4 MiB for a million claim lines, 24.8 MiB for 1.3 million):

- every pair is identified by its 64-bit `hash((claim, code))` (stable within one process,
  which is all a run needs); hash and row number are appended to two arrays (8 + 4 bytes);
- a bitmap of 32 to 128 bits per logged pair, indexed by the hash, answers "maybe seen before"
  (0.8 to 3 % false positives); it is rebuilt from the log, four times larger, once it holds
  one pair per 32 bits. (At one per 64 bits, a file just over 1,048,576 claim lines got a
  32 MiB bitmap, 256 bits a pair: twice the memory of the whole log at 1.3 million lines for
  half the false positives, which cost a few hundred bytes each but are few.)
- a "maybe" is a candidate: its hash goes to `_counts` and, unless it cannot be reported
  (below), its pair to `_pairs`, to name it in the message;
- `duplicates()` reads the log once to count every candidate (false positives count 1) and
  once more to collect the rows of the candidates it may report.

Two different pairs with the same 64-bit hash would count as one duplicate (probability about
n²/2⁶⁵, 3·10⁻⁸ for a million pairs); the message then names the first pair that hit.

Only the `limit` duplicates of lowest first row are reported, so pairs are not kept for all
candidates when there are many (a file uploaded twice): once `_pairs` passes a threshold,
`_settle` computes the `limit`-th lowest first row among known duplicates (`_horizon`, which can
only go down) and drops the pairs of candidates whose first row is above it. A pair that may
still matter is kept: a candidate hit at a row at or below the horizon, or whose hash was seen
on such a row (`_early`, the hashes of the rows at or below the horizon), stores its pair.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator

#: Bitmap bits per logged pair before it is rebuilt `GROWTH` times larger (≤ 3 % false hits).
BITS_PER_PAIR = 32
INITIAL_BITS = 1 << 16
GROWTH = 4
#: Candidate pairs kept before `_settle` drops those that cannot be reported.
SETTLE_AT = 50_000

#: One duplicated pair: (first row, claim number, code, occurrences, lowest rows).
Duplicate = tuple[int, str, str, int, list[int]]


class ClaimLog:
    """The (hash, row) of every claim line, and the pairs that may be duplicated.

    Lines go in through the function `adder()` returns: a closure, so that the hot path reads
    its state from local cells rather than attributes (measurably faster at a million rows).
    """

    __slots__ = (
        "_bits", "_counts", "_early", "_hashes", "_horizon", "_limit", "_max_rows", "_pairs",
        "_rows", "_settle_at",
    )  # fmt: skip

    def __init__(self, limit: int, max_rows: int) -> None:
        self._limit = limit  # duplicates reported
        self._max_rows = max_rows  # rows listed per duplicate (after the first)
        self._hashes = array("q")
        self._rows = array("i")  # row numbers: a file has far fewer than 2**31 rows
        self._bits = bytearray(INITIAL_BITS // 8)
        self._counts: dict[int, int] = {}  # every candidate hash (counted at the end)
        self._pairs: dict[int, tuple[str, str]] = {}
        self._horizon = 0  # 0: none yet; rows at or below it go to `_early`
        self._early: set[int] = set()
        self._settle_at = SETTLE_AT

    def adder(self) -> Callable[[tuple[str, str], int], None]:
        """`add(pair, row)`: log one claim line, `pair` = (`BillingRow.claim`, stripped code)."""
        append_hash, append_row = self._hashes.append, self._rows.append
        hashes, bits, early = self._hashes, self._bits, self._early
        mask, grow_at, horizon = len(bits) * 8 - 1, len(bits) * 8 // BITS_PER_PAIR, 0

        def add(pair: tuple[str, str], row: int) -> None:
            nonlocal bits, mask, grow_at, horizon, early
            key = hash(pair)
            append_hash(key)
            append_row(row)
            bit = key & mask
            index = bit >> 3
            byte = bits[index]
            flag = 1 << (bit & 7)
            if byte & flag:
                horizon = self._candidate(key, pair, row)
                early = self._early
            else:
                bits[index] = byte | flag
                if row <= horizon:
                    early.add(key)
                if len(hashes) > grow_at:
                    bits = self._grow()
                    mask, grow_at = len(bits) * 8 - 1, len(bits) * 8 // BITS_PER_PAIR

        return add

    def _candidate(self, key: int, pair: tuple[str, str], row: int) -> int:
        """Count `key` as a candidate, keep its pair if it may be reported; the horizon."""
        self._counts[key] = 0
        if key not in self._pairs and (
            not self._horizon or row <= self._horizon or key in self._early
        ):
            self._pairs[key] = pair
            if len(self._pairs) > self._settle_at:
                self._settle()
        return self._horizon

    def _grow(self) -> bytearray:
        """Rebuild the bitmap `GROWTH` times larger from the log (amortized: a few % of adds)."""
        size = len(self._bits) * 8 * GROWTH
        bits = bytearray(size // 8)
        mask = size - 1
        for key in self._hashes:
            bit = key & mask
            bits[bit >> 3] |= 1 << (bit & 7)
        self._bits = bits
        return bits

    def _settle(self) -> None:
        """Lower the horizon from the known duplicates and drop the pairs above it."""
        pairs = self._pairs
        first: dict[int, int] = {}
        seen: dict[int, int] = {}
        for key, row in zip(self._hashes, self._rows, strict=True):
            if key in pairs:
                seen[key] = seen.get(key, 0) + 1
                if row < first.get(key, row + 1):
                    first[key] = row
        lows = sorted(first[key] for key, count in seen.items() if count >= 2)
        if len(lows) >= self._limit and (
            not self._horizon or lows[self._limit - 1] < self._horizon
        ):
            horizon = self._horizon = lows[self._limit - 1]
            self._pairs = {key: pair for key, pair in pairs.items() if first[key] <= horizon}
            rows = zip(self._hashes, self._rows, strict=True)
            self._early = {key for key, row in rows if row <= horizon}
        self._settle_at = max(SETTLE_AT, 2 * len(self._pairs))

    def duplicates(self) -> tuple[int, list[Duplicate]]:
        """How many pairs occur twice or more, and the `limit` of lowest first row (sorted)."""
        counts = self._counts
        for key in counts:
            counts[key] = 0
        if counts:
            for key in self._hashes:
                if key in counts:
                    counts[key] += 1
        total = sum(1 for count in counts.values() if count >= 2)
        ranked = sorted(
            (rows[0], *self._pairs[key], counts[key], rows) for key, rows in self._duplicated_rows()
        )
        return total, ranked[: self._limit]

    def _duplicated_rows(self) -> Iterator[tuple[int, list[int]]]:
        """The lowest rows of each duplicated pair whose pair is known, sorted."""
        counts, keep = self._counts, self._max_rows + 1
        found: dict[int, list[int]] = {key: [] for key in self._pairs if counts.get(key, 0) >= 2}
        if not found:
            return
        for key, row in zip(self._hashes, self._rows, strict=True):
            rows = found.get(key)
            if rows is not None:
                rows.append(row)
                if len(rows) > 2 * keep:
                    rows.sort()
                    del rows[keep:]
        for key, rows in found.items():
            rows.sort()
            yield key, rows[:keep]
