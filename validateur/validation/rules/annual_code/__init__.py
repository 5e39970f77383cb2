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

Memory and time: only the small facts of annual-code rows, per (patient, year, kind) group, as
plain tuples (`AnnualAct`s only when written). Most groups have one row: the group holds that
fact itself; a second row turns it into a list, appended to from then on, so a row costs O(1)
whatever the size of its group (the job pauses the cyclic garbage collector during the pass,
so lists cost no collector time). Other rows cost one dict lookup. Findings are built only as
they are consumed, in (rows, scenario) order; the SUMMARY comes last from running totals.
Texts: `messages.py`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from operator import itemgetter
from typing import Final

from validateur.validation.engine import ReferenceData
from validateur.validation.findings import Common, Finding
from validateur.validation.rows import BillingRow
from validateur.validation.rules.annual_code import messages as text
from validateur.validation.rules.annual_code.messages import ZERO, AnnualAct, Fact, Group
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
#: A group as stored: its one fact, or the list of its facts once it has two.
Stored = Fact | list[Fact]
_ROW: Final = 1
_CODE: Final = 3
_PAID: Final = 6
_DOCTOR: Final = 7
_DOCTOR_INFO: Final = 8
_by_date_row_claim = itemgetter(0, 1, 2)


class AnnualCodeRule:
    """Flags annual codes billed more than once per patient, year and kind."""

    slug = SLUG

    def __init__(self, reference: ReferenceData) -> None:
        """`reference`: the registry passes it to every rule; this one needs none
        (its codes are constants of this module)."""
        self.codes = frozenset(ANNUAL_CODES)
        self._groups: dict[GroupKey, Stored] = {}
        self._year_of = Years().of
        self._infos: dict[str, str] = {}  # one string per distinct `Doctor Info`

    def feed(self, row: BillingRow) -> None:
        code = row.code.strip()
        if code not in ANNUAL_CODES:
            return
        day = row.date_service
        if day is None or not row.patient_id:
            return
        fact = (
            day,
            row.row_number,
            row.claim,
            _CODES[code],
            row.montant_preliminaire,
            row.montant_paye,
            row.is_paid,
            row.doctor,
            self._infos.setdefault(row.doctor_info, row.doctor_info),
        )
        key = (row.patient_id, self._year_of(day), ANNUAL_CODES[code])
        known = self._groups.get(key)
        if known is None:
            self._groups[key] = fact
        elif isinstance(known, list):
            known.append(fact)
        else:
            self._groups[key] = [known, fact]

    def finish(self) -> Iterator[Finding]:
        """One finding per group in (rows, scenario) order, then the SUMMARY.

        Only the group keys are sorted (by small tuples of ints, which the garbage collector
        stops tracking); each finding is written when it is consumed.
        """
        groups, self._groups = self._groups, {}
        if not groups:
            return
        for stored in groups.values():
            if isinstance(stored, list):
                stored.sort(key=_by_date_row_claim)
        rows_checked = sum(len(_facts(stored)) for stored in groups.values())
        codes = sorted({fact[_CODE] for stored in groups.values() for fact in _facts(stored)})
        count = len(groups)
        errors = {"E1": 0, "E2": 0, "E3": 0}
        gain = ZERO
        labels: dict[str, str] = {}
        for key in sorted(groups, key=lambda key: _rows_then_scenario(_facts(groups[key]))):
            facts = _facts(groups.pop(key))
            scenario = _scenario(facts)
            finding = _typed(_judge(scenario, key, facts), facts, labels)
            if scenario != "P1":  # P1 has no impact
                errors[scenario] += 1
                gain += finding.monetary_impact
            yield finding
        yield text.summary(rows_checked, count, codes, errors, gain)


def _typed(finding: Finding, facts: Facts, labels: dict[str, str]) -> Finding:
    """The date and doctor every act of the group shares, and the masked patient."""
    common = Common()
    for fact in facts:
        common.add(fact[0], fact[_DOCTOR], fact[_DOCTOR_INFO])
    finding.person = finding.data["patient"]
    return common.fill(finding, labels)


def _facts(stored: Stored) -> Facts:
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
