"""`annual-code`: codes billable once per patient per calendar year.

RAMQ business reason: the *prise en charge* codes (15801, 15802, 15815, 15816, 15821, 15822,
15835, 15836) and the *visite périodique* codes (15819, 15820, 15839, 15840) of the general
practitioners' manual pay an annual registration or periodic examination: the RAMQ pays one
per patient per calendar year for each kind, refuses the others, and claws back a second
payment. Rows are grouped by (patient, calendar year of `Date de Service`, kind); the year is
the date's own year, never a server time zone.

Scenarios (rules.md §3): `P1` one row in the group; `E1` several rows, 2+ paid (impact 0, the
RAMQ may claw back); `E2` several rows, exactly one paid (name the paid claim and the unpaid
ones to replace); `E3` several rows, none paid (one can be recovered: + the first row's
`Montant Preliminaire`); `SUMMARY` once per run when any annual code was seen.

Memory: only the small facts of annual-code rows, per (patient, year, kind) group.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from validateur.validation.engine import ReferenceData
from validateur.validation.findings import CENT, Finding, Severity, date_fr, money_fr
from validateur.validation.privacy import mask_patient
from validateur.validation.rows import BillingRow

SLUG = "annual-code"

PRISE_EN_CHARGE = "prise en charge"
VISITE_PERIODIQUE = "visite périodique"

#: Annual codes and their kind: one of each kind per patient per calendar year.
ANNUAL_CODES: dict[str, str] = {
    **dict.fromkeys(
        ("15801", "15802", "15815", "15816", "15821", "15822", "15835", "15836"), PRISE_EN_CHARGE
    ),
    **dict.fromkeys(("15819", "15820", "15839", "15840"), VISITE_PERIODIQUE),
}

#: How many rows of one kind a patient may have per calendar year.
MAX_PER_YEAR = 1

ZERO = Decimal("0.00")

GroupKey = tuple[str, int, str]  # (patient id, year, kind)


@dataclass(frozen=True, slots=True)
class AnnualAct:
    """The facts kept for one annual-code row (never the whole row)."""

    day: date
    row_number: int
    id_ramq: str
    code: str
    claimed: Decimal | None
    paid_amount: Decimal | None
    paid: bool

    @property
    def label(self) -> str:
        return f"{self.id_ramq or f'ligne {self.row_number}'} du {date_fr(self.day)}"


def _amount(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(CENT))


def _labels(acts: list[AnnualAct]) -> str:
    return ", ".join(act.label for act in acts)


class AnnualCodeRule:
    """Flags annual codes billed more than once per patient, year and kind."""

    slug = SLUG

    def __init__(self, reference: ReferenceData) -> None:
        self._reference = reference
        self._groups: dict[GroupKey, list[AnnualAct]] = {}

    def feed(self, row: BillingRow) -> None:
        kind = ANNUAL_CODES.get(row.code.strip())
        if kind is None or row.date_service is None or not row.patient_id:
            return
        act = AnnualAct(
            day=row.date_service,
            row_number=row.row_number,
            id_ramq=row.id_ramq.strip(),
            code=row.code.strip(),
            claimed=row.montant_preliminaire,
            paid_amount=row.montant_paye,
            paid=row.is_paid,
        )
        key = (row.patient_id, row.date_service.year, kind)
        self._groups.setdefault(key, []).append(act)

    def finish(self) -> Iterable[Finding]:
        findings = [self._judge(key, acts) for key, acts in self._groups.items()]
        findings.sort(key=lambda f: (f.rows, f.scenario))
        if findings:
            findings.append(self._summary(findings))
        return findings

    def _judge(self, key: GroupKey, acts: list[AnnualAct]) -> Finding:
        acts = sorted(acts, key=lambda a: (a.day, a.row_number, a.id_ramq))
        paid = [a for a in acts if a.paid]
        unpaid = [a for a in acts if not a.paid]
        if len(acts) <= MAX_PER_YEAR:
            return self._p1(key, acts)
        if len(paid) >= 2:
            return self._e1(key, acts, paid, unpaid)
        if len(paid) == 1:
            return self._e2(key, acts, paid, unpaid)
        return self._e3(key, acts)

    def _finding(
        self, scenario: str, key: GroupKey, acts: list[AnnualAct], **fields: Any
    ) -> Finding:
        paid = [a for a in acts if a.paid]
        unpaid = [a for a in acts if not a.paid]
        patient, year, kind = key
        data = {
            "code": acts[0].code,
            "codes": sorted({a.code for a in acts}),
            "kind": kind,
            "patient": mask_patient(patient),
            "year": year,
            "totalCount": len(acts),
            "paidCount": len(paid),
            "unpaidCount": len(unpaid),
            "paid": _side(paid, lambda a: a.paid_amount),
            "unpaid": _side(unpaid, lambda a: a.claimed),
        }
        return Finding(
            rule=SLUG,
            scenario=scenario,
            rows=tuple(a.row_number for a in acts),
            id_ramq=tuple(a.id_ramq for a in acts),
            data=data,
            **fields,
        )

    def _p1(self, key: GroupKey, acts: list[AnnualAct]) -> Finding:
        act = acts[0]
        return self._finding(
            "P1",
            key,
            acts,
            severity=Severity.INFO,
            message=(
                f"Code annuel {act.code} ({key[2]}) facturé une seule fois en {key[1]} pour ce "
                f"patient (réclamation {act.label}) : conforme."
            ),
        )

    def _e1(
        self, key: GroupKey, acts: list[AnnualAct], paid: list[AnnualAct], unpaid: list[AnnualAct]
    ) -> Finding:
        codes = "/".join(sorted({a.code for a in acts}))
        extra = f" Réclamations non payées : {_labels(unpaid)}." if unpaid else ""
        return self._finding(
            "E1",
            key,
            acts,
            severity=Severity.ERROR,
            message=(
                f"Le code annuel {codes} ({key[2]}) a été facturé {len(acts)} fois en {key[1]} "
                f"pour le même patient et payé {len(paid)} fois (réclamations payées : "
                f"{_labels(paid)}).{extra} Un seul est permis par année civile."
            ),
            solution=(
                f"Conservez la première réclamation payée ({paid[0].label}) et annulez les "
                f"autres ({_labels([a for a in acts if a is not paid[0]])}) : la RAMQ peut "
                "récupérer les montants payés en "
                "trop. Facturez plutôt un code de visite non annuel pour ces dates."
            ),
        )

    def _e2(
        self, key: GroupKey, acts: list[AnnualAct], paid: list[AnnualAct], unpaid: list[AnnualAct]
    ) -> Finding:
        codes = "/".join(sorted({a.code for a in acts}))
        return self._finding(
            "E2",
            key,
            acts,
            severity=Severity.ERROR,
            message=(
                f"Le code annuel {codes} ({key[2]}) a été facturé {len(acts)} fois en {key[1]} "
                f"pour le même patient : seule la réclamation {paid[0].label} a été payée ; "
                f"{len(unpaid)} réclamation(s) non payée(s) : {_labels(unpaid)}."
            ),
            solution=(
                f"Gardez la réclamation payée {paid[0].label}. Remplacez les réclamations non "
                f"payées {_labels(unpaid)} par un code de visite non annuel approprié."
            ),
        )

    def _e3(self, key: GroupKey, acts: list[AnnualAct]) -> Finding:
        first = acts[0]
        recoverable = first.claimed if first.claimed is not None and first.claimed > 0 else ZERO
        codes = "/".join(sorted({a.code for a in acts}))
        return self._finding(
            "E3",
            key,
            acts,
            severity=Severity.ERROR,
            monetary_impact=recoverable,
            message=(
                f"Le code annuel {codes} ({key[2]}) a été facturé {len(acts)} fois en {key[1]} "
                f"pour le même patient et aucune réclamation n'a été payée ({_labels(acts)})."
            ),
            solution=(
                f"Une seule de ces réclamations peut être payée : refacturez la première "
                f"({first.label}, {money_fr(recoverable)}) et remplacez les autres par un code "
                "de visite non annuel approprié."
            ),
        )

    def _summary(self, findings: list[Finding]) -> Finding:
        breakdown = Counter(f.scenario for f in findings)
        errors = {s: breakdown.get(s, 0) for s in ("E1", "E2", "E3")}
        rows_checked = sum(len(acts) for acts in self._groups.values())
        codes = sorted({a.code for acts in self._groups.values() for a in acts})
        gain = sum((f.monetary_impact for f in findings), ZERO)
        return Finding(
            rule=SLUG,
            scenario="SUMMARY",
            severity=Severity.INFO,
            message=(
                f"Codes annuels : {rows_checked} ligne(s) vérifiée(s) (codes {', '.join(codes)}), "
                f"{sum(errors.values())} erreur(s) (E1 : {errors['E1']}, E2 : {errors['E2']}, "
                f"E3 : {errors['E3']}), gain potentiel {money_fr(gain)}."
            ),
            data={
                "rowsChecked": rows_checked,
                "groupsChecked": len(self._groups),
                "codesChecked": codes,
                "errors": sum(errors.values()),
                "breakdown": errors,
                "potentialGain": _amount(gain),
            },
        )


def _side(
    acts: list[AnnualAct], amount_of: Callable[[AnnualAct], Decimal | None]
) -> dict[str, list[Any]]:
    """Claims, dates and amounts of one side (paid: `Montant payé`; unpaid: preliminary)."""
    return {
        "claims": [a.id_ramq for a in acts],
        "dates": [a.day.isoformat() for a in acts],
        "amounts": [_amount(amount_of(a)) for a in acts],
    }
