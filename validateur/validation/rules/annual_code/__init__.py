"""`annual-code`: codes billable once per patient per calendar year.

RAMQ business reason: the *prise en charge* codes (15801, 15802, 15815, 15816, 15821, 15822,
15835, 15836) and the *visite périodique* codes (15819, 15820, 15839, 15840) of the general
practitioners' manual pay an annual registration or periodic examination: the RAMQ pays one
per patient per calendar year for each kind, refuses the others, and claws back a second
payment. Rows are grouped by (patient, calendar year of `Date de Service`, kind); the year is
the date's own year, never a server time zone.

Scenarios (docs/rules.md): `P1` one row in the group; `E1` several rows, 2+ paid (impact 0, the
RAMQ may claw back); `E2` several rows, exactly one paid (name the paid claim and the unpaid
ones to replace); `E3` several rows, none paid (one can be recovered: + the first row's
`Montant Preliminaire`); `SUMMARY` once per run when any annual code was seen.

Memory and time: only the small facts of annual-code rows, as parallel columns (`columns.py`:
4 or 8 bytes a fact, no Python object per fact), the patient ids interned (one string per
distinct patient), the group of each fact packed in one 64-bit integer (patient index, year,
kind). Other rows cost one dict lookup. At `finish` the facts are grouped by sorting their
indices, each group rebuilt as plain tuples (`AnnualAct`s only when written); findings are
built only as they are consumed, in (rows, scenario) order; the SUMMARY comes last from running
totals.
Texts: `messages.py`.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Final

from validateur.validation.engine import ReferenceData
from validateur.validation.findings import Common, Finding
from validateur.validation.rows import BillingRow
from validateur.validation.rules.annual_code import messages as text
from validateur.validation.rules.annual_code.messages import ZERO, AnnualAct, Fact, Group
from validateur.validation.rules.columns import Claims, Interned
from validateur.validation.rules.years import Years

SLUG = text.SLUG

PRISE_EN_CHARGE = "prise en charge"
VISITE_PERIODIQUE = "visite périodique"

#: Annual codes and their kind: one of each kind per patient per calendar year.
ANNUAL_CODES: dict[str, str] = {
    **dict.fromkeys(
        ("15801", "15802", "15815", "15816", "15821", "15822", "15835", "15836"), PRISE_EN_CHARGE
    ),
    **dict.fromkeys(("15819", "15820", "15839", "15840"), VISITE_PERIODIQUE),
}
#: The code strings themselves, so that acts share them instead of each row's copy.
_CODES: dict[str, str] = {code: code for code in ANNUAL_CODES}

#: Every scenario the rule can produce.
SCENARIOS: tuple[str, ...] = ("P1", "E1", "E2", "E3", "SUMMARY")

#: How many rows of one kind a patient may have per calendar year.
MAX_PER_YEAR = 1

GroupKey = tuple[str, int, str]  # (patient id, year, kind)
Facts = Sequence[Fact]
#: The two kinds, as the bit a packed group key ends with.
KINDS = (PRISE_EN_CHARGE, VISITE_PERIODIQUE)
_KIND_BIT = {code: KINDS.index(kind) for code, kind in ANNUAL_CODES.items()}
#: Bits of the year in a packed group key (years up to 32767).
_YEAR_BITS = 15
_YEAR_MASK = (1 << _YEAR_BITS) - 1
_ROW: Final = 1
_CODE: Final = 3
_PAID: Final = 6
_DOCTOR: Final = 7
_DOCTOR_INFO: Final = 8


class AnnualCodeRule:
    """Flags annual codes billed more than once per patient, year and kind."""

    slug = SLUG

    def __init__(self, reference: ReferenceData) -> None:
        """`reference`: the registry passes it to every rule; this one needs none
        (its codes are constants of this module)."""
        self.codes = frozenset(ANNUAL_CODES)
        self._year_of = Years().of
        self._new_columns()

    def _new_columns(self) -> None:
        """One column per fact field (see `Fact`), and the packed group key of each fact."""
        self._infos: Interned[str] = Interned()  # one string per distinct `Doctor Info`
        self._patients: Interned[str] = Interned()
        self._groups = array("q")  # (patient index << 16) | (year << 1) | kind
        self._days: list[date] = []
        self._rows = array("i")
        self._claims = Claims()
        self._codes: list[str] = []
        self._claimed: list[Decimal | None] = []
        self._paid_amounts: list[Decimal | None] = []
        self._paid = bytearray()
        self._doctors: list[str] = []
        self._doctor_infos: list[str] = []

    def feed(self, row: BillingRow) -> None:
        code = row.code.strip()
        if code not in ANNUAL_CODES:
            return
        day = row.date_service
        if day is None or not row.patient_id:
            return
        patient = self._patients.index(row.patient_id)
        year = self._year_of(day)
        self._groups.append((patient << _YEAR_BITS | year) << 1 | _KIND_BIT[code])
        self._days.append(day)
        self._rows.append(row.row_number)
        self._claims.append(row.claim)
        self._codes.append(_CODES[code])
        self._claimed.append(row.montant_preliminaire)
        self._paid_amounts.append(row.montant_paye)
        self._paid.append(row.is_paid)
        self._doctors.append(row.doctor)
        self._doctor_infos.append(self._infos.shared(row.doctor_info))

    def _fact(self, index: int) -> Fact:
        return (
            self._days[index], self._rows[index], self._claims[index], self._codes[index],
            self._claimed[index], self._paid_amounts[index], bool(self._paid[index]),
            self._doctors[index], self._doctor_infos[index],
        )

    def _sorted_facts(self) -> array[int]:
        """Fact indices in (group, date, row, claim) order: the groups as consecutive runs.

        The sort key is one integer (group, date ordinal, row), not a tuple per fact; facts
        equal on it (rows numbered alike, in tests) are then ordered by claim.
        """
        keys, days, rows, claims = self._groups, self._days, self._rows, self._claims
        order = array("i", sorted(
            range(len(rows)),
            key=lambda index: (keys[index] << 32 | days[index].toordinal()) << 32 | rows[index],
        ))
        start = 0
        for end in range(1, len(order) + 1):
            if end == len(order) or not _same_place(self, order[start], order[end]):
                if end - start > 1:
                    order[start:end] = array("i", sorted(order[start:end],
                                                         key=claims.__getitem__))
                start = end
        return order

    def _group_runs(self, order: array[int]) -> list[tuple[int, int]]:
        """(start, end) in `order` of each group, in the order of their findings."""
        keys = self._groups
        runs: list[tuple[int, int]] = []
        start = 0
        for end in range(1, len(order) + 1):
            if end == len(order) or keys[order[end]] != keys[order[start]]:
                runs.append((start, end))
                start = end
        rows = self._rows
        runs.sort(key=lambda run: rows[order[run[0]]])  # the first row decides, but for ties
        first = 0
        for index in range(1, len(runs) + 1):
            if index == len(runs) or rows[order[runs[index][0]]] != rows[order[runs[first][0]]]:
                if index - first > 1:
                    runs[first:index] = sorted(runs[first:index], key=lambda run: (
                        _rows_then_scenario(self._run_facts(order, run))))
                first = index
        return runs

    def _run_facts(self, order: array[int], run: tuple[int, int]) -> list[Fact]:
        return [self._fact(order[position]) for position in range(*run)]

    def _key(self, index: int) -> GroupKey:
        packed = self._groups[index]
        patient = self._patients.values[packed >> (_YEAR_BITS + 1)]
        return patient, packed >> 1 & _YEAR_MASK, KINDS[packed & 1]

    def finish(self) -> Iterator[Finding]:
        """One finding per group in (rows, scenario) order, then the SUMMARY.

        The groups are never all rebuilt at once: the fact indices are sorted into groups,
        the groups ordered by their first row, and each group's facts rebuilt as tuples when
        its finding is written.
        """
        if not self._rows:
            return
        order = self._sorted_facts()
        runs = self._group_runs(order)
        rows_checked, count = len(order), len(runs)
        codes = sorted(set(self._codes))
        errors = {"E1": 0, "E2": 0, "E3": 0}
        gain = ZERO
        labels: dict[str, str] = {}
        for run in runs:
            facts = self._run_facts(order, run)
            scenario = _scenario(facts)
            key = self._key(order[run[0]])
            finding = _typed(_judge(scenario, key, facts), facts, labels)
            if scenario != "P1":  # P1 has no impact
                errors[scenario] += 1
                gain += finding.monetary_impact
            yield finding
        self._new_columns()
        yield text.summary(rows_checked, count, codes, errors, gain)


def _same_place(rule: AnnualCodeRule, one: int, other: int) -> bool:
    """Whether two facts are equal on (group, date, row): only their claims order them."""
    return (
        rule._groups[one] == rule._groups[other] and rule._rows[one] == rule._rows[other]
        and rule._days[one] == rule._days[other]
    )


def _typed(finding: Finding, facts: Facts, labels: dict[str, str]) -> Finding:
    """The date and doctor every act of the group shares, and the masked patient."""
    common = Common()
    for fact in facts:
        common.add(fact[0], fact[_DOCTOR], fact[_DOCTOR_INFO])
    finding.person = finding.data["patient"]
    return common.fill(finding, labels)


def _facts(stored: Fact | list[Fact]) -> Facts:
    """The facts of a stored group: its list, or its one fact."""
    return stored if isinstance(stored, list) else (stored,)


def _scenario(facts: Facts) -> str:
    if len(facts) <= MAX_PER_YEAR:
        return "P1"
    paid = sum(1 for fact in facts if fact[_PAID])
    return "E1" if paid >= 2 else "E2" if paid == 1 else "E3"


def _rows_then_scenario(facts: Facts) -> tuple[tuple[int, ...], str]:
    """How the findings are ordered: their rows (acts sorted by date), then scenario."""
    if len(facts) == 1:
        return (facts[0][_ROW],), "P1"
    return tuple(fact[_ROW] for fact in facts), _scenario(facts)


def _judge(scenario: str, key: GroupKey, facts: Facts) -> Finding:
    if scenario == "P1":
        return text.p1(*key, facts[0])
    group = Group(*key, tuple(map(AnnualAct._make, facts)))
    paid = [a for a in group.acts if a.paid]
    unpaid = [a for a in group.acts if not a.paid]
    if scenario == "E1":
        return text.e1(group, paid, unpaid)
    if scenario == "E2":
        return text.e2(group, paid, unpaid)
    first = group.acts[0].claimed
    return text.e3(group, first if first is not None and first > 0 else ZERO)
