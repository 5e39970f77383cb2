"""Compact per-fact state: facts kept as parallel columns rather than one Python object each.

Why: a rule that keeps the facts of some rows until `finish` (annual codes, clinical
interventions, long visits) used to keep a tuple per fact, plus the row's own strings and
ints: about 300 bytes a fact, as tens of thousands of small objects scattered among the
freed rows, which pin the allocator's arenas (the work-horse's RSS kept growing with the
file). A column is one growing buffer: an `array` of machine integers, or a list of
references to objects the reader already shares (dates, amounts, doctors) or that the rule
interns (`Doctor Info`, codes): 4 or 8 bytes a fact, and no object per fact.

- `Claims`: claim numbers (`BillingRow.claim`, unique per row: they cannot be shared) as
  64-bit integers when the text is a plain decimal number that `str(int(text))` gives back
  exactly (no leading zero, at most 18 digits); any other text (letters, hyphens, leading
  zeros, "") is interned and stored as a negative index. Lossless either way: `claims[i]`
  is the very text that went in.
- `Interned`: one object per distinct value (a dict and a list), values named by index.
"""

from __future__ import annotations

from array import array
from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)

#: Longest claim number kept as an integer (19 digits could pass 2**63 - 1).
MAX_INT_DIGITS = 18


class Interned(Generic[T]):
    """Distinct values, each named by its index (first seen first)."""

    __slots__ = ("_index", "values")

    def __init__(self) -> None:
        self._index: dict[T, int] = {}
        self.values: list[T] = []

    def index(self, value: T) -> int:
        """The index of `value`, added on its first call."""
        found = self._index.get(value)
        if found is None:
            found = self._index[value] = len(self.values)
            self.values.append(value)
        return found

    def shared(self, value: T) -> T:
        """The first object equal to `value`: one string per distinct text, say."""
        return self.values[self.index(value)]


class Claims:
    """Claim numbers, 8 bytes each: `append(text)`, then `claims[i]` gives the text back."""

    __slots__ = ("_numbers", "_others")

    def __init__(self) -> None:
        self._numbers = array("q")
        self._others: Interned[str] = Interned()

    def append(self, claim: str) -> None:
        self._numbers.append(self._number(claim))

    def __setitem__(self, index: int, claim: str) -> None:
        """Replace the claim at `index` (a rule's fact replaced by an earlier row's)."""
        self._numbers[index] = self._number(claim)

    def _number(self, claim: str) -> int:
        """The integer kept for `claim`: the number itself when lossless, else a negative
        index into the interned texts."""
        if claim.isdigit() and claim.isascii() and len(claim) <= MAX_INT_DIGITS and (
            claim[0] != "0" or claim == "0"
        ):
            return int(claim)
        return -1 - self._others.index(claim)

    def __getitem__(self, index: int) -> str:
        number = self._numbers[index]
        return str(number) if number >= 0 else self._others.values[-1 - number]

    def __len__(self) -> int:
        return len(self._numbers)
