"""`structure`: what is wrong with the rows themselves (docs/rules.md).

Business reason: the RAMQ rejects a claim whose date, code, physician or amounts cannot be read,
and billing staff must fix the row in their billing software before anything else can be
checked. Every other rule skips the fields it cannot use, so these findings are the only trace
of a bad cell.

Identical problems are one finding: the same scenario and **subject** (docs/rules.md, « Subject
of a finding ») list all their rows. Subjects: the column for `missing-value`,
`invalid-character`, `invalid-nam` and `invalid-claim`; the column and the bad value for
`invalid-date`, `invalid-time`, `invalid-amount` and `amount-out-of-range` (the value is quoted
only when it looks like a date, a time or an amount: digits and separators, never letters, so
a name or a NAM shifted into that column is never shown); the code for `unknown-code`; the
(claim, code) pair for `duplicate-claim`; nothing for `extra-cells` and `no-data`.

- errors: `invalid-date`, `invalid-amount`, `amount-out-of-range`, `invalid-time`,
  `missing-value`, `extra-cells`;
- warnings: `invalid-character` (a NUL removed or an undecodable character kept, per column),
  `invalid-nam` (`Patient` not empty and not starting with a NAM), `invalid-claim` (`ID RAMQ`
  not empty and not claim-shaped: the row has no claim for any rule, and no finding shows the
  cell), `duplicate-claim` (the same `ID RAMQ` + `Code` on two rows or more), `unknown-code`
  (with the reference codes table loaded, a code neither in it nor named by another rule),
  `no-data` (a header and no data row).

Bounds: at most `MAX_PER_SCENARIO` subjects per scenario (the first met in the file), each
listing at most `MAX_ROWS_PER_FINDING` rows (the lowest) with the total in its message and
`data["count"]`; rows of subjects beyond the cap are counted in one closing `info` finding.
Output is sorted (scenario, then first row). Memory: the kept subjects and rows (bounded)
plus, for duplicates, a log of 16 to 28 bytes per claim line (`claims.py`), never the rows.
Texts: `messages.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from validateur.validation.cells import NAM_AT_START
from validateur.validation.engine import ReferenceData
from validateur.validation.findings import Common, Finding
from validateur.validation.rows import BillingRow, Column, Problem
from validateur.validation.rules.structure.claims import ClaimLog
from validateur.validation.rules.structure.messages import (
    DUPLICATE_CLAIM,
    INVALID_NAM,
    NO_DATA,
    SLUG,
    UNKNOWN_CODE,
    Subject,
    duplicate_finding,
    no_data_finding,
    omitted_finding,
    quotable_value,
    showable,
    subject_finding,
)

#: Subjects (findings) per scenario.
MAX_PER_SCENARIO = 1_000
#: Rows listed by one finding (its message and `data["count"]` give the total).
MAX_ROWS_PER_FINDING = 1_000
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
    Problem.INVALID_CLAIM.value,
    DUPLICATE_CLAIM,
    UNKNOWN_CODE,
)

_PATIENT = Column.PATIENT
_CODE = Column.CODE
_nam_at_start = NAM_AT_START.match
#: Where a row keeps the text of a column whose bad value a finding may quote.
_VALUE_TEXT: dict[Column, Callable[[BillingRow], str]] = {
    Column.DATE_SERVICE: lambda row: row.date_service_text,
    Column.DEBUT: lambda row: row.debut_text,
    Column.FIN: lambda row: row.fin_text,
    Column.MONTANT_PRELIMINAIRE: lambda row: row.montant_preliminaire_text,
    Column.MONTANT_PAYE: lambda row: row.montant_paye_text,
}
QUOTED_SCENARIOS = frozenset({
    Problem.INVALID_DATE.value, Problem.INVALID_TIME.value, Problem.INVALID_AMOUNT.value,
    Problem.AMOUNT_OUT_OF_RANGE.value,
})  # fmt: skip


class _Subject:
    """The rows of one (scenario, subject): the lowest `MAX_ROWS_PER_FINDING`, and a count."""

    __slots__ = ("common", "count", "hits")

    def __init__(self) -> None:
        self.hits: list[tuple[int, int, str]] = []  # (row, line, claim)
        self.count = 0
        self.common = Common()

    def add(self, row: BillingRow) -> None:
        self.count += 1
        self.common.add(row.date_service, row.doctor, row.doctor_info)
        hits = self.hits
        hits.append((row.row_number, row.line, row.claim))
        if len(hits) >= 2 * MAX_ROWS_PER_FINDING:
            hits.sort()
            del hits[MAX_ROWS_PER_FINDING:]

    def kept(self) -> list[tuple[int, int, str]]:
        self.hits.sort()
        return self.hits[:MAX_ROWS_PER_FINDING]


class _Scenario:
    """The subjects of one scenario, at most `MAX_PER_SCENARIO`, and the rows left out."""

    __slots__ = ("left_out", "subjects")

    def __init__(self) -> None:
        self.subjects: dict[Subject, _Subject] = {}
        self.left_out = 0

    def add(self, subject: Subject, row: BillingRow) -> None:
        known = self.subjects.get(subject)
        if known is None:
            if len(self.subjects) >= MAX_PER_SCENARIO:
                self.left_out += 1
                return
            known = self.subjects[subject] = _Subject()
        known.add(row)

    def findings(self, scenario: str, labels: dict[str, str]) -> Iterator[Finding]:
        ranked = sorted(self.subjects.items(), key=lambda item: item[1].kept()[0][0])
        for (column, value), subject in ranked:
            hits = subject.kept()
            finding = subject_finding(scenario, column, value, subject.count, hits)
            yield subject.common.fill(finding, labels)
        if self.left_out:
            yield omitted_finding(scenario, self.left_out, MAX_PER_SCENARIO)


class StructureRule:
    """The `structure` rule: row problems, NAMs, duplicate claims, unknown codes.

    `feed` is a closure (`_feeder`): every row goes through it, and reading its state from
    local cells rather than attributes is measurably faster at a million rows.
    """

    slug = SLUG
    feed: Callable[[BillingRow], None]

    def __init__(self, reference: ReferenceData) -> None:
        self._known_codes = reference.known_codes
        self._scenarios: dict[str, _Scenario] = {scenario: _Scenario() for scenario in SCENARIOS}
        self._claims = ClaimLog(MAX_PER_SCENARIO, MAX_ROWS_PER_DUPLICATE)
        self._fed: Callable[[], bool] = lambda: False
        self.feed = self._feeder()

    def _feeder(self) -> Callable[[BillingRow], None]:
        known, add_claim = self._known_codes, self._claims.adder()
        invalid_nam = self._scenarios[INVALID_NAM].add
        unknown_code = self._scenarios[UNKNOWN_CODE].add
        feed_problems = self._feed_problems
        patient_subject: Subject = (_PATIENT, "")
        fed = False
        self._fed = lambda: fed

        def feed(row: BillingRow) -> None:
            nonlocal fed
            fed = True
            if row.problems:
                feed_problems(row)
            patient = row.patient
            if patient and not _nam_at_start(patient) and not patient.isspace():
                invalid_nam(patient_subject, row)
            code = row.code.strip()
            if not code:
                return
            if (
                known is not None
                and code not in known
                and code not in RULE_CODES
                and code.upper() not in known
            ):
                unknown_code((_CODE, showable(code)), row)
            claim = row.claim
            if claim:
                add_claim((claim, code), row.row_number)

        return feed

    def _feed_problems(self, row: BillingRow) -> None:
        for problem in row.problems:
            column = problem.column
            scenario = problem.problem.value
            value = ""
            if scenario in QUOTED_SCENARIOS and column in _VALUE_TEXT:
                value = quotable_value(_VALUE_TEXT[column](row))
            self._scenarios[scenario].add((column, value), row)

    def finish(self) -> Iterator[Finding]:
        """Findings scenario by scenario (see `SCENARIOS`), built as they are consumed."""
        labels: dict[str, str] = {}
        for scenario in SCENARIOS:
            if scenario == NO_DATA:
                if not self._fed():
                    yield no_data_finding()
                continue
            if scenario == DUPLICATE_CLAIM:
                total, ranked = self._claims.duplicates()
                self._claims = ClaimLog(MAX_PER_SCENARIO, MAX_ROWS_PER_DUPLICATE)  # free it
                for _, claim, code, count, rows in ranked:
                    yield duplicate_finding(claim, code, count, rows)
                if total > len(ranked):
                    yield omitted_finding(scenario, total - len(ranked), MAX_PER_SCENARIO)
                continue
            yield from self._scenarios[scenario].findings(scenario, labels)
