"""French wording of the `annual-code` findings (docs/rules.md): messages, solutions and data.

This module only writes: which scenario fires is decided in `annual_code`. Texts name claim
numbers (`ID RAMQ`, or the row number when it is empty), dates, codes, counts and amounts; the
patient appears only masked (`ABCD****5678`) in `data`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from validateur.formatting import integer
from validateur.validation.findings import CENT, Finding, Severity, date_fr, money_fr
from validateur.validation.privacy import mask_patient
from validateur.validation.rules.wording import agree, claim, claim_number, count, enumerate_fr

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
    doctor: str  # `BillingRow.doctor`
    doctor_info: str  # shared per distinct text, only to mask it


#: An `AnnualAct` as stored by the rule: a plain tuple of the same fields.
Fact = tuple[date, int, str, str, Decimal | None, Decimal | None, bool, str, str]


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
    """`30000000001 du 2025-01-10`, after « réclamation » or « réclamations »."""
    return f"{claim_number(act.id_ramq, act.row_number)} du {date_fr(act.day)}"


def named(act: AnnualAct) -> str:
    """`réclamation 30000000001 du 2025-01-10`, `réclamation de la ligne 12 du 2025-01-10`."""
    return f"{claim(act.id_ramq, act.row_number)} du {date_fr(act.day)}"


def labels(acts: Sequence[AnnualAct]) -> str:
    return enumerate_fr([label(act) for act in acts])


def claims(acts: Sequence[AnnualAct]) -> str:
    """`réclamation 30000000001 du 2025-01-10`, `réclamations … et …`."""
    return f"{agree(len(acts), 'réclamation')} {labels(acts)}"


def billed(group: Group, acts: Sequence[AnnualAct]) -> str:
    """`Le code annuel 15815 (prise en charge) a été facturé 3 fois en 2025 pour le même
    patient`; two codes of the same kind: `Les codes annuels 15801/15816 … ont été facturés`."""
    n = len({a.code for a in acts})
    what = agree(n, "Le code annuel", "Les codes annuels")
    verb = agree(n, "a été facturé", "ont été facturés")
    return (
        f"{what} {codes_label(acts)} ({group.kind}) {verb} {integer(len(acts))} fois en "
        f"{group.year} pour le même patient"
    )


UNPAID = ("Réclamation non payée", "Réclamations non payées")


def the_others(n: int) -> str:
    return agree(n, "l'autre réclamation", "les autres réclamations")


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
    day, number, id_ramq, code, claimed, paid_amount, paid, _, _ = fact
    iso = day.isoformat()
    message = (
        f"Code annuel {code} ({kind}) facturé une seule fois en {year} pour ce "
        f"patient ({claim(id_ramq, number)} du {iso}) : conforme."
    )
    one: dict[str, list[Any]] = {"claims": [id_ramq], "dates": [iso]}
    none: dict[str, list[Any]] = {"claims": [], "dates": [], "amounts": []}
    one["amounts"] = [amount(paid_amount if paid else claimed)]
    data = {
        "code": code,
        "codes": [code],
        "kind": kind,
        "patient": mask_patient(patient),
        "year": year,
        "totalCount": 1,
        "paidCount": 1 if paid else 0,
        "unpaidCount": 0 if paid else 1,
        "paid": one if paid else none,
        "unpaid": none if paid else one,
    }
    return Finding(SLUG, "P1", Severity.INFO, message, "", (number,), (id_ramq,), ZERO, data)


def e1(group: Group, paid: list[AnnualAct], unpaid: list[AnnualAct]) -> Finding:
    acts = group.acts
    kept = paid[0]
    others = [a for a in acts if a is not kept]
    extra = ""
    if unpaid:
        extra = f" {agree(len(unpaid), *UNPAID)} : {labels(unpaid)}."
    paid_word = agree(len({a.code for a in acts}), "payé", "payés")
    return finding(
        "E1",
        group,
        severity=Severity.ERROR,
        message=(
            f"{billed(group, acts)} et {paid_word} {integer(len(paid))} fois"
            f" ({claims(paid)}).{extra}"
            f" Un seul code de {group.kind} est permis par patient et par année civile."
        ),
        solution=(
            f"Conservez la première réclamation payée ({label(kept)}) et annulez "
            f"{the_others(len(others))} ({labels(others)}) : la RAMQ peut "
            "récupérer les montants payés en trop. Facturez plutôt un code de visite non "
            f"annuel {agree(len(others), 'pour cette date', 'pour ces dates')}."
        ),
    )


def e2(group: Group, paid: list[AnnualAct], unpaid: list[AnnualAct]) -> Finding:
    acts = group.acts
    n = len(unpaid)
    return finding(
        "E2",
        group,
        severity=Severity.ERROR,
        message=(
            f"{billed(group, acts)} : seule la {named(paid[0])} a été payée ; "
            f"{count(n, 'réclamation non payée', 'réclamations non payées')} : {labels(unpaid)}."
        ),
        solution=(
            f"Gardez la réclamation payée ({label(paid[0])}). Dans "
            f"{agree(n, 'la réclamation non payée', 'les réclamations non payées')} "
            f"({labels(unpaid)}), remplacez le code annuel par un code de visite non annuel "
            "approprié."
        ),
    )


def e3(group: Group, recoverable: Decimal) -> Finding:
    acts = group.acts
    others = len(acts) - 1
    return finding(
        "E3",
        group,
        severity=Severity.ERROR,
        monetary_impact=recoverable,
        message=(f"{billed(group, acts)} et aucune réclamation n'a été payée ({claims(acts)})."),
        solution=(
            f"Une seule de ces réclamations peut être payée : refacturez la première "
            f"({label(acts[0])}, {money_fr(recoverable)}) et, dans {the_others(others)}, "
            "remplacez le code annuel par un code de visite non annuel approprié."
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
            f"Codes annuels : {count(rows_checked, 'ligne vérifiée', 'lignes vérifiées')} "
            f"({agree(len(codes), 'code', 'codes')} {enumerate_fr(codes)}), "
            f"{count(sum(errors.values()), 'erreur')} (E1 : {integer(errors['E1'])}, "
            f"E2 : {integer(errors['E2'])}, E3 : {integer(errors['E3'])}), "
            f"gain potentiel {money_fr(gain)}."
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
