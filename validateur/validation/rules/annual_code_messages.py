"""French wording of the `annual-code` findings (rules.md §3): messages, solutions and data.

This module only writes: which scenario fires is decided in `annual_code`. Texts name claim
numbers (`ID RAMQ`, or the row number when it is empty), dates, codes, counts and amounts; the
patient appears only masked (`ABCD****5678`) in `data`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from validateur.validation.findings import CENT, Finding, Severity, date_fr, money_fr
from validateur.validation.privacy import mask_patient

SLUG = "annual-code"
ZERO = Decimal("0.00")


class AnnualAct(NamedTuple):
    """The facts kept for one annual-code row (never the whole row)."""

    day: date
    row_number: int
    id_ramq: str
    code: str
    claimed: Decimal | None
    paid_amount: Decimal | None
    paid: bool


#: An `AnnualAct` as stored by the rule: a plain tuple of the same fields.
Fact = tuple[date, int, str, str, Decimal | None, Decimal | None, bool]


class Group(NamedTuple):
    """One (patient, year, kind) group, its acts sorted by date, row and claim."""

    patient: str
    year: int
    kind: str
    acts: Sequence[AnnualAct]


def codes_label(acts: Sequence[AnnualAct]) -> str:
    """The distinct codes of a group's acts, `15815/15819`."""
    return "/".join(sorted({a.code for a in acts}))


def label(act: AnnualAct) -> str:
    return f"{act.id_ramq or f'ligne {act.row_number}'} du {date_fr(act.day)}"


def labels(acts: Sequence[AnnualAct]) -> str:
    return ", ".join(label(act) for act in acts)


def amount(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(CENT))


def side(acts: Sequence[AnnualAct], paid: bool) -> dict[str, list[Any]]:
    """Claims, dates and amounts of one side (paid: `Montant payé`; unpaid: preliminary)."""
    claims: list[str] = []
    dates: list[str] = []
    amounts: list[str | None] = []
    for act in acts:
        claims.append(act.id_ramq)
        dates.append(act.day.isoformat())
        amounts.append(amount(act.paid_amount if paid else act.claimed))
    return {"claims": claims, "dates": dates, "amounts": amounts}


def finding(scenario: str, group: Group, **fields: Any) -> Finding:
    """The finding of a group, with its `data` (figures, claims, masked patient)."""
    acts = group.acts
    paid = [a for a in acts if a.paid]
    unpaid = [a for a in acts if not a.paid]
    data = {
        "code": acts[0].code,
        "codes": sorted({a.code for a in acts}),
        "kind": group.kind,
        "patient": mask_patient(group.patient),
        "year": group.year,
        "totalCount": len(acts),
        "paidCount": len(paid),
        "unpaidCount": len(unpaid),
        "paid": side(paid, True),
        "unpaid": side(unpaid, False),
    }
    return Finding(
        rule=SLUG,
        scenario=scenario,
        rows=tuple(a.row_number for a in acts),
        id_ramq=tuple(a.id_ramq for a in acts),
        data=data,
        **fields,
    )


def p1(patient: str, year: int, kind: str, fact: Fact) -> Finding:
    """P1, by far the most frequent finding: written straight from the stored fact."""
    day, number, claim, code, claimed, paid_amount, paid = fact
    iso = day.isoformat()
    message = (
        f"Code annuel {code} ({kind}) facturé une seule fois en {year} pour ce "
        f"patient (réclamation {claim or f'ligne {number}'} du {iso}) : conforme."
    )
    billed: dict[str, list[Any]] = {"claims": [claim], "dates": [iso]}
    none: dict[str, list[Any]] = {"claims": [], "dates": [], "amounts": []}
    if paid:
        billed["amounts"] = [amount(paid_amount)]
    else:
        billed["amounts"] = [amount(claimed)]
    data = {
        "code": code,
        "codes": [code],
        "kind": kind,
        "patient": mask_patient(patient),
        "year": year,
        "totalCount": 1,
        "paidCount": 1 if paid else 0,
        "unpaidCount": 0 if paid else 1,
        "paid": billed if paid else none,
        "unpaid": none if paid else billed,
    }
    return Finding(SLUG, "P1", Severity.INFO, message, "", (number,), (claim,), ZERO, data)


def e1(group: Group, paid: list[AnnualAct], unpaid: list[AnnualAct]) -> Finding:
    acts = group.acts
    codes = codes_label(acts)
    extra = f" Réclamations non payées : {labels(unpaid)}." if unpaid else ""
    return finding(
        "E1",
        group,
        severity=Severity.ERROR,
        message=(
            f"Le code annuel {codes} ({group.kind}) a été facturé {len(acts)} fois en "
            f"{group.year} pour le même patient et payé {len(paid)} fois (réclamations payées : "
            f"{labels(paid)}).{extra} Un seul est permis par année civile."
        ),
        solution=(
            f"Conservez la première réclamation payée ({label(paid[0])}) et annulez les "
            f"autres ({labels([a for a in acts if a is not paid[0]])}) : la RAMQ peut "
            "récupérer les montants payés en "
            "trop. Facturez plutôt un code de visite non annuel pour ces dates."
        ),
    )


def e2(group: Group, paid: list[AnnualAct], unpaid: list[AnnualAct]) -> Finding:
    acts = group.acts
    codes = codes_label(acts)
    return finding(
        "E2",
        group,
        severity=Severity.ERROR,
        message=(
            f"Le code annuel {codes} ({group.kind}) a été facturé {len(acts)} fois en "
            f"{group.year} pour le même patient : seule la réclamation {label(paid[0])} a été "
            f"payée ; {len(unpaid)} réclamation(s) non payée(s) : {labels(unpaid)}."
        ),
        solution=(
            f"Gardez la réclamation payée {label(paid[0])}. Remplacez les réclamations non "
            f"payées {labels(unpaid)} par un code de visite non annuel approprié."
        ),
    )


def e3(group: Group, recoverable: Decimal) -> Finding:
    acts = group.acts
    codes = codes_label(acts)
    return finding(
        "E3",
        group,
        severity=Severity.ERROR,
        monetary_impact=recoverable,
        message=(
            f"Le code annuel {codes} ({group.kind}) a été facturé {len(acts)} fois en "
            f"{group.year} pour le même patient et aucune réclamation n'a été payée "
            f"({labels(acts)})."
        ),
        solution=(
            f"Une seule de ces réclamations peut être payée : refacturez la première "
            f"({label(acts[0])}, {money_fr(recoverable)}) et remplacez les autres par un code "
            "de visite non annuel approprié."
        ),
    )


def summary(
    rows_checked: int, groups: int, codes: list[str], errors: dict[str, int], gain: Decimal
) -> Finding:
    """SUMMARY: once per run when any annual code was seen."""
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
            "groupsChecked": groups,
            "codesChecked": codes,
            "errors": sum(errors.values()),
            "breakdown": errors,
            "potentialGain": amount(gain),
        },
    )
