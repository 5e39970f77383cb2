"""`structure`: what is wrong with the rows themselves (docs/rules.md).

Business reason: the RAMQ rejects a claim whose date, code, physician or amounts cannot be read,
and billing staff must fix the row in their billing software before anything else can be
checked. Every other rule skips the fields it cannot use, so these findings are the only trace
of a bad cell.

- one `error` finding per row problem found by the reader (`invalid-date`, `invalid-amount`,
  `amount-out-of-range`, `invalid-time`, `missing-value`, `extra-cells`), naming the row and
  the column, never the cell's value;
- `invalid-character` (warning): a cell held a NUL (removed) or an undecodable character
  (kept as U+FFFD), one finding per row and column (docs/file-format.md);
- `invalid-nam` (warning): `Patient` is not empty and does not start with a NAM;
- `duplicate-claim` (warning): the same `ID RAMQ` + `Code` on two rows or more, one finding per
  claim and code naming all its rows;
- `unknown-code` (warning): only when the reference codes table is loaded, a code neither in it
  nor named by another rule;
- `no-data` (warning): the file has a header and no data row.

At most `MAX_PER_SCENARIO` findings per scenario, those of the lowest row numbers, then one
`info` finding with the number left out. Output is sorted (scenario, then first row), so it
does not depend on row order. Memory: the kept hits (bounded) plus, for duplicates, a log of
about 24 bytes per claim line (`structure_claims.py`), never the rows. Findings are built only
as they are consumed. Texts: `structure_messages.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from validateur.validation.cells import NAM_AT_START
from validateur.validation.engine import ReferenceData
from validateur.validation.findings import Finding
from validateur.validation.rows import BillingRow, Column, Problem
from validateur.validation.rules.structure_claims import ClaimLog
from validateur.validation.rules.structure_messages import (
    DUPLICATE_CLAIM,
    INVALID_NAM,
    NO_DATA,
    SLUG,
    UNKNOWN_CODE,
    duplicate_finding,
    no_data_finding,
    omitted_finding,
    row_finding,
)

MAX_PER_SCENARIO = 1_000
#: Rows remembered per duplicated claim.
MAX_ROWS_PER_DUPLICATE = 100

#: Codes other rules name (docs/rules.md): known even when the tariff table lacks them.
RULE_CODES = frozenset({
    "19928", "19929", "8875", "8857", "8859", "15801", "15802", "15815", "15816", "15821",
    "15822", "15835", "15836", "15819", "15820", "15839", "15840",
})  # fmt: skip

#: Output order: errors first, then warnings.
SCENARIOS: tuple[str, ...] = (
    Problem.MISSING_VALUE.value,
    Problem.INVALID_DATE.value,
    Problem.INVALID_AMOUNT.value,
    Problem.AMOUNT_OUT_OF_RANGE.value,
    Problem.INVALID_TIME.value,
    Problem.EXTRA_CELLS.value,
    NO_DATA,
    Problem.INVALID_CHARACTER.value,
    INVALID_NAM,
    DUPLICATE_CLAIM,
    UNKNOWN_CODE,
)

#: One row-level hit before rendering: (row number, column slug, ID RAMQ, code).
_Hit = tuple[int, str, str, str]
_PATIENT = Column.PATIENT.value
_CODE = Column.CODE.value
_nam_at_start = NAM_AT_START.match


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


class StructureRule:
    """The `structure` rule: row problems, NAMs, duplicate claims, unknown codes.

    `feed` is a closure (`_feeder`): every row goes through it, and reading its state from
    local cells rather than attributes is measurably faster at a million rows.
    """

    slug = SLUG
    feed: Callable[[BillingRow], None]

    def __init__(self, reference: ReferenceData) -> None:
        self._known_codes = reference.known_codes
        self._hits: dict[str, _Lowest] = {scenario: _Lowest() for scenario in SCENARIOS}
        self._claims = ClaimLog(MAX_PER_SCENARIO, MAX_ROWS_PER_DUPLICATE)
        self._fed: Callable[[], bool] = lambda: False
        self.feed = self._feeder()

    def _feeder(self) -> Callable[[BillingRow], None]:
        known, add_claim = self._known_codes, self._claims.adder()
        invalid_nam, unknown_code = self._hits[INVALID_NAM].add, self._hits[UNKNOWN_CODE].add
        feed_problems = self._feed_problems
        fed = False
        self._fed = lambda: fed

        def feed(row: BillingRow) -> None:
            nonlocal fed
            fed = True
            if row.problems:
                feed_problems(row)
            patient = row.patient
            if patient and not _nam_at_start(patient) and not patient.isspace():
                invalid_nam((row.row_number, _PATIENT, row.id_ramq.strip(), ""))
            code = row.code.strip()
            if not code:
                return
            if (
                known is not None
                and code not in known
                and code not in RULE_CODES
                and code.upper() not in known
            ):
                unknown_code((row.row_number, _CODE, row.id_ramq.strip(), code))
            id_ramq = row.id_ramq.strip()
            if id_ramq:
                add_claim((id_ramq, code), row.row_number)

        return feed

    def _feed_problems(self, row: BillingRow) -> None:
        number, id_ramq = row.row_number, row.id_ramq.strip()
        for problem in row.problems:
            column = problem.column.value if problem.column else ""
            self._hits[problem.problem.value].add((number, column, id_ramq, ""))

    def finish(self) -> Iterator[Finding]:
        """Findings scenario by scenario (see `SCENARIOS`), built as they are consumed."""
        for scenario in SCENARIOS:
            if scenario == NO_DATA:
                if not self._fed():
                    yield no_data_finding()
                continue
            if scenario == DUPLICATE_CLAIM:
                total, ranked = self._claims.duplicates()
                self._claims = ClaimLog(MAX_PER_SCENARIO, MAX_ROWS_PER_DUPLICATE)  # free it
                for _, id_ramq, code, count, rows in ranked:
                    yield duplicate_finding(id_ramq, code, count, rows)
                reported = len(ranked)
            else:
                kept = self._hits[scenario].kept()
                for hit in kept:
                    yield row_finding(scenario, *hit)
                total, reported = self._hits[scenario].total, len(kept)
            if total > reported:
                yield omitted_finding(scenario, total - reported, MAX_PER_SCENARIO)


def make(reference: ReferenceData) -> StructureRule:
    """Factory for the rule registry."""
    return StructureRule(reference)
