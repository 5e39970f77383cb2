"""`gmf-8875`: the GMF registration forfait, once per patient per calendar year.

RAMQ business reason: code 8875 is the annual forfait paid to a physician of a *groupe de
médecine de famille* (GMF) for a registered patient seen in the GMF: the RAMQ pays it once per
patient per calendar year (9,35 $). A second 8875 the same year is refused or clawed back
(`E1`); a patient seen in a GMF establishment without any 8875 that year is money left on the
table (`MISSED`).

- `E1` (error): rows with code 8875 grouped by (patient, year of `Date de Service`). The first
  paid 8875 by date (then row number) is kept; every other 8875 of the group, dated before or
  after it, paid or not, is an `E1` (impact −9,35 $ if that row is paid, else 0). Groups
  without a paid 8875 produce nothing.
- `MISSED` (optimization, +9,35 $): a GMF visit is a row at a `Lieu de pratique` of the GMF
  reference list, with code 8857, 8859 or 15801–15840 and none of the context tokens `MTA13`,
  `GMFU`, `GAP`, `G160`, `AR`. One finding on the patient-year's first GMF visit (by date, then
  row number) when that patient has no 8875 row at all that year (paid or not).
- `SKIPPED` (info, once): when the GMF list is not loaded or empty, `MISSED` is skipped (never
  guessed) and the rule says so once.

Memory and time: per patient-year, the acts of its 8875 rows and of its first GMF visit only,
kept as columns (`acts.py`: about 16 bytes an act beside the dict entry of its patient-year),
and no visit once the patient-year has an 8875; other rows cost a code lookup. A
patient-year with one 8875 holds that act's index; a second one turns it into a list,
appended to from then on, so a row costs O(1) whatever the size of its group (the job pauses
the cyclic garbage collector during the pass, so lists cost no collector time). Findings are
built only as they are consumed, in (row, scenario, claim) order.
Texts: `messages.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from operator import itemgetter

from validateur.validation.engine import ReferenceData
from validateur.validation.findings import Finding, set_doctor
from validateur.validation.rows import BillingRow
from validateur.validation.rules.gmf_8875 import messages as text
from validateur.validation.rules.gmf_8875.acts import Acts
from validateur.validation.rules.gmf_8875.messages import (
    CLAIM,
    DAY,
    DOCTOR,
    DOCTOR_INFO,
    GMF_FORFAIT_CODE,
    GMF_FORFAIT_TARIFF,
    PAID,
    ROW,
    SLUG,
    Act,
    PatientYear,
)
from validateur.validation.rules.years import Years

__all__ = ["GMF_FORFAIT_CODE", "GMF_FORFAIT_TARIFF", "SCENARIOS", "SLUG", "Gmf8875Rule"]

#: Every scenario the rule can produce.
SCENARIOS: tuple[str, ...] = ("E1", "MISSED", "SKIPPED")

#: Codes of a visit that makes a registered patient "seen in the GMF".
GMF_VISIT_CODES: frozenset[str] = frozenset(
    {"8857", "8859", *(str(code) for code in range(15801, 15841))}
)

#: Context tokens that take a visit out of the GMF forfait (walk-in, teaching, other programs).
NON_GMF_CONTEXT: frozenset[str] = frozenset({"MTA13", "GMFU", "GAP", "G160", "AR"})

#: The code strings themselves, so that acts share them instead of each row's copy.
_CODES: dict[str, str] = {code: code for code in (GMF_FORFAIT_CODE, *GMF_VISIT_CODES)}

#: A finding to write, sorted like it: (row, scenario, claim, patient-year, E1: other + kept,
#: MISSED: None and the visit's act index).
_Pending = tuple[int, str, str, PatientYear, Act | None, Act | int]
_by_row_scenario_claim = itemgetter(0, 1, 2)


def _order(act: Act) -> tuple[date, int, str]:
    return act[DAY], act[ROW], act[CLAIM]


class Gmf8875Rule:
    """Flags repeated 8875 forfaits and GMF patients without one.

    State is kept per year, then per patient: one small dict per year rather than a
    (patient, year) tuple per patient-year (56 bytes each, and a tuple hash per row).
    """

    slug = SLUG

    def __init__(self, reference: ReferenceData) -> None:
        self._gmf_places: frozenset[str] = reference.gmf_establishments or frozenset()
        # Without a GMF list, visits are never read (MISSED is skipped): the engine then
        # does not even hand them over.
        visits = GMF_VISIT_CODES if self._gmf_places else ()
        self.codes = frozenset({GMF_FORFAIT_CODE, *visits})
        self._acts = Acts()
        self._forfaits: dict[int, dict[str, int | list[int]]] = {}  # year → patient → 8875(s)
        self._first_visits: dict[int, dict[str, int]] = {}  # year → patient → GMF visit
        self._year_of = Years().of

    def feed(self, row: BillingRow) -> None:
        code = row.code.strip()
        if code == GMF_FORFAIT_CODE:
            self._feed_forfait(row)
        elif code in GMF_VISIT_CODES and self._gmf_places:
            self._feed_visit(row, code)

    def _feed_forfait(self, row: BillingRow) -> None:
        day, patient = row.date_service, row.patient_id
        if day is None or not patient:
            return
        year = self._year_of(day)
        forfaits = self._forfaits.get(year)
        if forfaits is None:
            forfaits = self._forfaits[year] = {}
        act = self._acts.add(row, day, GMF_FORFAIT_CODE)
        known = forfaits.get(patient)
        if known is None:
            forfaits[patient] = act
        elif isinstance(known, list):
            known.append(act)
        else:
            forfaits[patient] = [known, act]
        visits = self._first_visits.get(year)
        if visits:
            visits.pop(patient, None)  # a patient-year with an 8875 is never MISSED

    def _feed_visit(self, row: BillingRow, code: str) -> None:
        day, patient = row.date_service, row.patient_id
        if day is None or not patient:
            return
        if row.lieu_pratique.strip() not in self._gmf_places:
            return
        if not row.context.isdisjoint(NON_GMF_CONTEXT):
            return
        year = self._year_of(day)
        forfaits = self._forfaits.get(year)
        if forfaits and patient in forfaits:
            return
        visits = self._first_visits.get(year)
        if visits is None:
            visits = self._first_visits[year] = {}
        known = visits.get(patient)
        acts = self._acts
        if known is None:
            visits[patient] = acts.add(row, day, _CODES[code])
            return
        known_day = acts.days[known]  # the group keeps its first visit by (day, row, claim)
        if day > known_day:
            return
        number, known_number = row.row_number, acts.rows[known]
        if day < known_day or number < known_number or (
            number == known_number and row.claim < acts.claims[known]
        ):
            acts.replace(known, row, day, _CODES[code])

    def finish(self) -> Iterator[Finding]:
        """SKIPPED first when there is no GMF list, then findings by row, scenario, claim."""
        forfaits, visits, acts = self._forfaits, self._first_visits, self._acts
        self._forfaits, self._first_visits, self._acts = {}, {}, Acts()
        if not self._gmf_places:
            yield text.skipped()
        pending: list[_Pending] = []
        for year, groups in forfaits.items():
            for patient, indices in groups.items():
                if isinstance(indices, list):  # a single 8875 is never a duplicate
                    group = [acts[index] for index in indices]
                    pending.extend(_duplicates((patient, year), group))
        del forfaits
        rows, claims = acts.rows, acts.claims
        for year, firsts in visits.items():
            pending.extend(
                (rows[visit], "MISSED", claims[visit], (patient, year), None, visit)
                for patient, visit in firsts.items()
            )
        del visits
        pending.sort(key=_by_row_scenario_claim)
        labels: dict[str, str] = {}
        for _, _, _, key, other, kept in pending:
            if isinstance(kept, int):
                act = acts[kept]
                finding = text.missed(key, act)
            else:
                assert other is not None  # E1: the other act and the kept one
                act, finding = other, text.e1(key, kept, other)
            finding.service_date, finding.person = act[DAY], finding.data["patient"]
            yield set_doctor(finding, act[DOCTOR], act[DOCTOR_INFO], labels)


def _duplicates(key: PatientYear, acts: list[Act]) -> list[_Pending]:
    """E1 for every 8875 of the group but its first paid one (groups without one: nothing)."""
    paid = [act for act in acts if act[PAID]]
    if not paid:
        return []
    kept = min(paid, key=_order)
    others = sorted((act for act in acts if act is not kept), key=_order)
    return [(other[ROW], "E1", other[CLAIM], key, other, kept) for other in others]
