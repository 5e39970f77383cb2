"""`structure`: what is wrong with the rows themselves (rules.md §1).

Business reason: the RAMQ rejects a claim whose date, code, physician or amounts cannot be read,
and billing staff must fix the row in their billing software before anything else can be
checked. Every other rule skips the fields it cannot use, so these findings are the only trace
of a bad cell.

- one `error` finding per row problem found by the reader (`invalid-date`, `invalid-amount`,
  `invalid-time`, `missing-value`, `extra-cells`), naming the row and the column, never the
  cell's value;
- `invalid-nam` (warning): `Patient` is not empty and does not start with a NAM;
- `duplicate-claim` (warning): the same `ID RAMQ` + `Code` on two rows or more, one finding per
  claim and code naming all its rows;
- `unknown-code` (warning): only when the reference codes table is loaded, a code neither in it
  nor named by another rule.

At most `MAX_PER_SCENARIO` findings per scenario, those of the lowest row numbers, then one
`info` finding with the number left out. Output is sorted (scenario, then first row), so it
does not depend on row order. Memory: the kept findings (bounded) plus, for duplicates, one
dict entry per distinct (ID RAMQ, code) pair holding a 64-bit hash and a row number (measured:
about 115 MB for a million distinct claims), never the rows. Texts: `structure_messages.py`.
"""

from __future__ import annotations

from collections.abc import Iterable

from validateur.validation.cells import NAM_AT_START
from validateur.validation.engine import ReferenceData
from validateur.validation.findings import Finding
from validateur.validation.rows import BillingRow, Column, Problem
from validateur.validation.rules.structure_messages import (
    DUPLICATE_CLAIM,
    INVALID_NAM,
    SLUG,
    UNKNOWN_CODE,
    duplicate_finding,
    omitted_finding,
    row_finding,
)

MAX_PER_SCENARIO = 1_000
#: Rows remembered per duplicated claim.
MAX_ROWS_PER_DUPLICATE = 100

#: Codes other rules name (rules.md §2–6): known even when the tariff table lacks them.
RULE_CODES = frozenset({
    "19928", "19929", "8875", "8857", "8859", "15801", "15802", "15815", "15816", "15821",
    "15822", "15835", "15836", "15819", "15820", "15839", "15840",
})  # fmt: skip

#: Output order: errors first, then warnings.
SCENARIOS: tuple[str, ...] = (
    Problem.MISSING_VALUE.value,
    Problem.INVALID_DATE.value,
    Problem.INVALID_AMOUNT.value,
    Problem.INVALID_TIME.value,
    Problem.EXTRA_CELLS.value,
    INVALID_NAM,
    DUPLICATE_CLAIM,
    UNKNOWN_CODE,
)

#: One row-level hit before rendering: (row number, column slug, ID RAMQ, code).
_Hit = tuple[int, str, str, str]


class _Lowest:
    """The `MAX_PER_SCENARIO` hits of lowest row number, and how many hits there were."""

    __slots__ = ("hits", "total")

    def __init__(self) -> None:
        self.hits: list[_Hit] = []
        self.total = 0

    def add(self, hit: _Hit) -> None:
        self.total += 1
        self.hits.append(hit)
        if len(self.hits) >= 2 * MAX_PER_SCENARIO:
            self.hits.sort()
            del self.hits[MAX_PER_SCENARIO:]

    def kept(self) -> list[_Hit]:
        self.hits.sort()
        return self.hits[:MAX_PER_SCENARIO]


class _Duplicate:
    """One (ID RAMQ, code) seen more than once: its lowest row and (some of) the others."""

    __slots__ = ("code", "count", "id_ramq", "low", "others")

    def __init__(self, id_ramq: str, code: str, low: int) -> None:
        self.id_ramq = id_ramq
        self.code = code
        self.low = low
        self.others: list[int] = []
        self.count = 1

    def add(self, row: int) -> None:
        self.count += 1
        if row < self.low:
            self.low, row = row, self.low
        self.others.append(row)
        if len(self.others) > 2 * MAX_ROWS_PER_DUPLICATE:
            self.others.sort()
            del self.others[MAX_ROWS_PER_DUPLICATE:]

    def rows(self) -> list[int]:
        return [self.low, *sorted(self.others)[:MAX_ROWS_PER_DUPLICATE]]


class StructureRule:
    """The `structure` rule: row problems, NAMs, duplicate claims, unknown codes."""

    slug = SLUG

    def __init__(self, reference: ReferenceData) -> None:
        self._known_codes = reference.known_codes
        self._hits: dict[str, _Lowest] = {scenario: _Lowest() for scenario in SCENARIOS}
        #: hash((ID RAMQ, code)) → lowest row seen, negated once the pair is duplicated.
        self._claims: dict[int, int] = {}
        self._duplicates: dict[int, _Duplicate] = {}
        self._duplicated = 0
        #: Pairs whose lowest row is above this cannot make the reported ones (after pruning).
        self._duplicate_horizon: int | None = None

    def feed(self, row: BillingRow) -> None:
        number = row.row_number
        id_ramq = row.id_ramq.strip()
        for problem in row.problems:
            column = problem.column.value if problem.column else ""
            self._hits[problem.problem.value].add((number, column, id_ramq, ""))
        patient = row.patient
        if patient and not NAM_AT_START.match(patient) and not patient.isspace():
            self._hits[INVALID_NAM].add((number, Column.PATIENT.value, id_ramq, ""))
        code = row.code.strip()
        if not code:
            return
        known = self._known_codes
        if (
            known is not None
            and code not in known
            and code not in RULE_CODES
            and code.upper() not in known
        ):
            self._hits[UNKNOWN_CODE].add((number, Column.CODE.value, id_ramq, code))
        if id_ramq:
            self._feed_claim(number, id_ramq, code)

    def _feed_claim(self, number: int, id_ramq: str, code: str) -> None:
        key = hash((id_ramq, code))
        seen = self._claims.get(key)
        if seen is None:
            self._claims[key] = number
            return
        if seen > 0:
            self._duplicated += 1
        low = min(abs(seen), number)
        self._claims[key] = -low
        duplicate = self._duplicates.get(key)
        if duplicate is None:
            if self._duplicate_horizon is not None and low > self._duplicate_horizon:
                return
            duplicate = self._duplicates[key] = _Duplicate(id_ramq, code, abs(seen))
        duplicate.add(number)
        if len(self._duplicates) > 2 * MAX_PER_SCENARIO:
            self._prune_duplicates()

    def _prune_duplicates(self) -> None:
        """Keep the duplicates of lowest first row (exact in file order; see module doc)."""
        ranked = sorted(self._duplicates.items(), key=lambda item: item[1].low)
        self._duplicates = dict(ranked[:MAX_PER_SCENARIO])
        self._duplicate_horizon = ranked[MAX_PER_SCENARIO - 1][1].low

    def finish(self) -> Iterable[Finding]:
        findings: list[Finding] = []
        for scenario in SCENARIOS:
            if scenario == DUPLICATE_CLAIM:
                reported = self._duplicate_findings()
                total = self._duplicated
            else:
                reported = [row_finding(scenario, *hit) for hit in self._hits[scenario].kept()]
                total = self._hits[scenario].total
            findings.extend(reported)
            if total > len(reported):
                findings.append(omitted_finding(scenario, total - len(reported), MAX_PER_SCENARIO))
        return findings

    def _duplicate_findings(self) -> list[Finding]:
        ranked = sorted(self._duplicates.values(), key=lambda d: (d.low, d.id_ramq, d.code))
        return [
            duplicate_finding(d.id_ramq, d.code, d.count, d.rows())
            for d in ranked[:MAX_PER_SCENARIO]
        ]


def make(reference: ReferenceData) -> StructureRule:
    """Factory for the rule registry."""
    return StructureRule(reference)
