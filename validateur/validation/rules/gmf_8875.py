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

Memory: per patient-year, the facts of its 8875 rows and of its first GMF visit only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from validateur.validation.engine import ReferenceData
from validateur.validation.findings import Finding, Severity, date_fr, money_fr
from validateur.validation.privacy import mask_patient
from validateur.validation.rows import BillingRow

SLUG = "gmf-8875"

#: The GMF registration forfait code and its RAMQ tariff (the reference table is wrong for it).
GMF_FORFAIT_CODE = "8875"
GMF_FORFAIT_TARIFF = Decimal("9.35")

#: Codes of a visit that makes a registered patient "seen in the GMF".
GMF_VISIT_CODES: frozenset[str] = frozenset(
    {"8857", "8859", *(str(code) for code in range(15801, 15841))}
)

#: Context tokens that take a visit out of the GMF forfait (walk-in, teaching, other programs).
NON_GMF_CONTEXT: frozenset[str] = frozenset({"MTA13", "GMFU", "GAP", "G160", "AR"})

PatientYear = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Act:
    """The facts kept for one 8875 row or one GMF visit."""

    day: date
    row_number: int
    id_ramq: str
    code: str
    paid: bool

    @property
    def order(self) -> tuple[date, int, str]:
        return (self.day, self.row_number, self.id_ramq)

    @property
    def claim(self) -> str:
        return self.id_ramq or f"ligne {self.row_number}"


def _act(row: BillingRow, day: date) -> Act:
    return Act(day, row.row_number, row.id_ramq.strip(), row.code.strip(), row.is_paid)


class Gmf8875Rule:
    """Flags repeated 8875 forfaits and GMF patients without one."""

    slug = SLUG

    def __init__(self, reference: ReferenceData) -> None:
        self._gmf_places: frozenset[str] = reference.gmf_establishments or frozenset()
        self._forfaits: dict[PatientYear, list[Act]] = {}
        self._first_visits: dict[PatientYear, Act] = {}

    def feed(self, row: BillingRow) -> None:
        code = row.code.strip()
        if code == GMF_FORFAIT_CODE:
            self._feed_forfait(row)
        elif self._gmf_places and code in GMF_VISIT_CODES:
            self._feed_visit(row)

    def _feed_forfait(self, row: BillingRow) -> None:
        if row.date_service is None or not row.patient_id:
            return
        key = (row.patient_id, row.date_service.year)
        self._forfaits.setdefault(key, []).append(_act(row, row.date_service))

    def _feed_visit(self, row: BillingRow) -> None:
        if row.date_service is None or not row.patient_id:
            return
        if row.lieu_pratique.strip() not in self._gmf_places:
            return
        if not row.context.isdisjoint(NON_GMF_CONTEXT):
            return
        key = (row.patient_id, row.date_service.year)
        visit = _act(row, row.date_service)
        known = self._first_visits.get(key)
        if known is None or visit.order < known.order:
            self._first_visits[key] = visit

    def finish(self) -> Iterable[Finding]:
        findings: list[Finding] = []
        for key, acts in self._forfaits.items():
            findings.extend(_duplicates(key, acts))
        if self._gmf_places:
            findings.extend(
                _missed(key, visit)
                for key, visit in self._first_visits.items()
                if key not in self._forfaits
            )
        findings.sort(key=lambda f: (f.rows, f.scenario, f.id_ramq))
        if not self._gmf_places:
            findings.insert(0, _skipped())
        return findings


def _duplicates(key: PatientYear, acts: list[Act]) -> list[Finding]:
    paid = [a for a in acts if a.paid]
    if not paid:
        return []
    kept = min(paid, key=lambda a: a.order)
    others = sorted((a for a in acts if a is not kept), key=lambda a: a.order)
    return [_e1(key, kept, other) for other in others]


def _e1(key: PatientYear, kept: Act, other: Act) -> Finding:
    patient, year = key
    impact = -GMF_FORFAIT_TARIFF if other.paid else Decimal(0)
    status = "payé" if other.paid else "non payé"
    return Finding(
        rule=SLUG,
        scenario="E1",
        severity=Severity.ERROR,
        message=(
            f"Forfait GMF {GMF_FORFAIT_CODE} facturé de nouveau ({status}) le "
            f"{date_fr(other.day)} (réclamation {other.claim}) alors qu'il a déjà été payé le "
            f"{date_fr(kept.day)} (réclamation {kept.claim}) pour ce patient en {year} : "
            "un seul par patient par année civile."
        ),
        solution=(
            f"Annulez la réclamation {other.claim}"
            + (f" : la RAMQ récupérera {money_fr(GMF_FORFAIT_TARIFF)}." if other.paid else ".")
        ),
        rows=(other.row_number,),
        id_ramq=(other.id_ramq,),
        monetary_impact=impact,
        data={
            "code": GMF_FORFAIT_CODE,
            "patient": mask_patient(patient),
            "year": year,
            "date": other.day.isoformat(),
            "paid": other.paid,
            "firstPaidDate": kept.day.isoformat(),
            "firstPaidClaim": kept.id_ramq,
            "firstPaidRow": kept.row_number,
            "tariff": str(GMF_FORFAIT_TARIFF),
        },
    )


def _missed(key: PatientYear, visit: Act) -> Finding:
    patient, year = key
    return Finding(
        rule=SLUG,
        scenario="MISSED",
        severity=Severity.OPTIMIZATION,
        message=(
            f"Patient vu en GMF le {date_fr(visit.day)} (réclamation {visit.claim}, code "
            f"{visit.code}) sans forfait {GMF_FORFAIT_CODE} facturé en {year}."
        ),
        solution=(
            f"Si le patient est inscrit au GMF, facturez le forfait {GMF_FORFAIT_CODE} "
            f"({money_fr(GMF_FORFAIT_TARIFF)}) avec la visite du {date_fr(visit.day)}."
        ),
        rows=(visit.row_number,),
        id_ramq=(visit.id_ramq,),
        monetary_impact=GMF_FORFAIT_TARIFF,
        data={
            "code": GMF_FORFAIT_CODE,
            "visitCode": visit.code,
            "patient": mask_patient(patient),
            "year": year,
            "date": visit.day.isoformat(),
            "tariff": str(GMF_FORFAIT_TARIFF),
        },
    )


def _skipped() -> Finding:
    return Finding(
        rule=SLUG,
        scenario="SKIPPED",
        severity=Severity.INFO,
        message=(
            "La liste des établissements GMF n'est pas chargée : la recherche des forfaits "
            f"{GMF_FORFAIT_CODE} manquants n'a pas été faite (les doublons ont été vérifiés)."
        ),
        solution=(
            "Demandez à un administrateur d'importer la liste des établissements GMF, "
            "puis relancez la validation."
        ),
        data={"gmfEstablishments": 0},
    )
