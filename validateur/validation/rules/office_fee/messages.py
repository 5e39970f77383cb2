"""French wording of the `office-fee` findings (docs/rules.md): messages, solutions and data.

This module only writes: which scenario fires, and with which figures, is decided in
`office_fee`. Texts name claim numbers (`ID RAMQ`), row numbers, dates, codes, counts and
amounts (`64,80 $`); the doctor appears masked (`Dr. T***`), patients never appear.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from validateur.formatting import integer
from validateur.validation.findings import Finding, Severity, date_fr, money_fr
from validateur.validation.rules import wording
from validateur.validation.rules.wording import agree, count, enumerate_fr

SLUG = "office-fee"
FEE_19928 = "19928"
FEE_19929 = "19929"
WALK_IN_HINT = " (élément de contexte G160 ou AR)"
NO_ACTION = "Aucune action requise."


@dataclass(frozen=True, slots=True)
class Counts:
    """Distinct patients of a doctor-day: registered / walk-in, paid / unpaid."""

    rp: int
    ru: int
    wp: int
    wu: int

    def paid(self, walk_in: bool) -> int:
        return self.wp if walk_in else self.rp

    def unpaid(self, walk_in: bool) -> int:
        return self.wu if walk_in else self.ru


@dataclass(frozen=True, slots=True)
class Fee:
    """What the rule keeps of one 19928/19929 row (never the patient)."""

    row: int
    id_ramq: str
    code: str
    walk_in: bool
    place: str
    tariff: Decimal
    claimed: Decimal | None
    paid: Decimal | None


@dataclass(frozen=True, slots=True)
class Day:
    """One doctor-day as shown to billing staff."""

    day: date
    doctor: str  # masked: `Dr. T***`
    counts: Counts


def group_name(walk_in: bool) -> str:
    """The patients a fee is for, after « patients »: `inscrits`, `sans rendez-vous`."""
    return "sans rendez-vous" if walk_in else "inscrits"


def fee_name(code: str, walk_in: bool) -> str:
    """`19928 pour patients inscrits`, `19929 pour patients sans rendez-vous`."""
    return f"{code} pour patients {group_name(walk_in)}"


def patients(n: int, walk_in: bool, paid: str = "") -> str:
    """`1 patient inscrit payé`, `3 patients sans rendez-vous payés` (`paid`: `payé`...)."""
    group = "sans rendez-vous" if walk_in else agree(n, "inscrit")
    words = f"{count(n, 'patient')} {group}"
    return f"{words} {agree(n, paid)}" if paid else words


def counts_phrase(counts: Counts, walk_in: bool) -> str:
    """`3 patients inscrits payés (3 non payés)`, `1 patient inscrit payé (0 non payé)`."""
    paid, unpaid = counts.paid(walk_in), counts.unpaid(walk_in)
    return f"{patients(paid, walk_in, 'payé')} ({integer(unpaid)} non {agree(unpaid, 'payé')})"


def both_counts(counts: Counts) -> str:
    return f"{counts_phrase(counts, False)} et {counts_phrase(counts, True)}"


def claim(fee: Fee) -> str:
    """`réclamation 10000000001`."""
    return wording.claim(fee.id_ramq, fee.row)


def claims(fees: Sequence[Fee]) -> str:
    """`réclamation 10000000001`, `réclamations 10000000001 et 10000000002`."""
    return wording.claims([wording.claim_number(fee.id_ramq, fee.row) for fee in fees])


def label(fee: Fee) -> str:
    """`19928 pour patients inscrits (réclamation 10000000001)`."""
    return f"{fee_name(fee.code, fee.walk_in)} ({claim(fee)})"


def labels(fees: Sequence[Fee]) -> str:
    return enumerate_fr([label(fee) for fee in fees])


def when(day: Day, article: str = "du") -> str:
    """`du 2025-03-10 (Dr. T***)`."""
    return f"{article} {date_fr(day.day)} ({day.doctor})"


def day_data(day: Day) -> dict[str, Any]:
    c = day.counts
    return {
        "date": day.day.isoformat(),
        "doctor": day.doctor,
        "registeredPaid": c.rp,
        "registeredUnpaid": c.ru,
        "walkInPaid": c.wp,
        "walkInUnpaid": c.wu,
    }


def fee_data(fee: Fee) -> dict[str, Any]:
    return {
        "row": fee.row,
        "idRamq": fee.id_ramq,
        "code": fee.code,
        "walkIn": fee.walk_in,
        "place": fee.place,
        "tariff": str(fee.tariff),
        "claimed": None if fee.claimed is None else str(fee.claimed),
        "paid": None if fee.paid is None else str(fee.paid),
    }


def make(
    scenario: str,
    severity: Severity,
    day: Day,
    fees: Sequence[Fee],
    texts: tuple[str, str],
    impact: Decimal = Decimal(0),
    **extra: Any,
) -> Finding:
    """One finding of a doctor-day about `fees` (sorted by row)."""
    data = day_data(day)
    data["fees"] = [fee_data(fee) for fee in fees]
    if extra:
        data.update(extra)
    rows = tuple([fee.row for fee in fees])
    claims = tuple([fee.id_ramq for fee in fees if fee.id_ramq])
    return Finding(SLUG, scenario, severity, texts[0], texts[1], rows, claims, impact, data)


def establishment(day: Day, fee: Fee) -> Finding:
    place = fee.place.strip()
    kind = "un établissement hospitalier" if place.startswith("2") else "qui n'est pas un cabinet"
    message = (
        f"Frais de cabinet {label(fee)} {when(day)} facturés au lieu de pratique {place}, {kind} :"
        " les frais de cabinet ne sont payables qu'en cabinet (lieu commençant par 5)."
    )
    solution = (
        f"Annulez le {fee.code} ({claim(fee)}) : {money_fr(fee.tariff)} à risque. Si le lieu de"
        " pratique est erroné, remplacez-le par le numéro du cabinet (5xxxx)."
    )
    return make("ESTABLISHMENT", Severity.ERROR, day, [fee], (message, solution), -fee.tariff)


def below_threshold(
    scenario: str, day: Day, fee: Fee, minimum: int, impact: Decimal, downgrade: int | None
) -> Finding:
    """E1–E4. `downgrade` is the 19928 threshold reached by a 19929 that can be downgraded."""
    message = (
        f"Frais de cabinet {label(fee)} {when(day)} : {counts_phrase(day.counts, fee.walk_in)},"
        f" sous le seuil de {patients(minimum, fee.walk_in, 'payé')} requis pour le {fee.code}."
    )
    if downgrade is not None:
        solution = (
            f"Remplacez le {fee.code} ({claim(fee)}) par un {fee_name(FEE_19928, fee.walk_in)} :"
            f" le seuil de {count(downgrade, 'patient')} du 19928 est atteint"
            f" ({money_fr(-impact)} à risque)."
        )
    else:
        solution = f"Annulez le {fee.code} ({claim(fee)}) : {money_fr(-impact)} à risque."
    unpaid = day.counts.unpaid(fee.walk_in)
    if unpaid and day.counts.paid(fee.walk_in) + unpaid >= minimum:
        solution += " " + unpaid_hint(unpaid, fee.walk_in, minimum)
    return make(
        scenario, Severity.ERROR, day, [fee], (message, solution), impact, threshold=minimum
    )


def unpaid_hint(unpaid: int, walk_in: bool, minimum: int) -> str:
    """What paying the unpaid visits would change, when it would reach the threshold."""
    if unpaid == 1:
        group = "sans rendez-vous" if walk_in else "inscrit"
        who, fix = f"la visite du patient {group} non payé était payée", "faites-la corriger"
    else:
        who = f"les visites des {patients(unpaid, walk_in, 'non payé')} étaient payées"
        fix = "faites-les corriger"
    return f"Si {who}, le seuil de {minimum} serait atteint : {fix} avant de soumettre."


def over_maximum(day: Day, fees: Sequence[Fee], total: Decimal, maximum: Decimal) -> Finding:
    """E5: more than the daily maximum billed."""
    excess = total - maximum
    message = (
        f"Frais de cabinet {when(day)} : {money_fr(total)} facturés, au-delà du maximum"
        f" quotidien de {money_fr(maximum)} (excédent de {money_fr(excess)}) : {labels(fees)}."
    )
    solution = (
        f"Gardez au plus {money_fr(maximum)} de frais de cabinet ce jour-là (un 19928 pour les"
        " patients inscrits et un pour les patients sans rendez-vous, ou un seul 19929) et"
        f" annulez le reste ({money_fr(excess)})."
    )
    texts = (message, solution)
    return make(
        "E5", Severity.ERROR, day, fees, texts, -excess, total=str(total), maximum=str(maximum)
    )


def cancel_19928(
    scenario: str, day: Day, kept: Sequence[Fee], cancelled: Sequence[Fee], impact: Decimal
) -> Finding:
    """E6 / E8: a 19928 of one group billed with a 19929 of the other."""
    n = len(cancelled)
    cancelled_name = fee_name(FEE_19928, cancelled[0].walk_in)
    kept_name = fee_name(FEE_19929, kept[0].walk_in)
    message = (
        f"Frais de cabinet {when(day)} : {agree(n, 'le', 'les')} {cancelled_name}"
        f" ({claims(cancelled)}) {agree(n, 'est facturé', 'sont facturés')} avec"
        f" {agree(len(kept), 'le', 'les')} {kept_name} ({claims(kept)}) ; le 19929 atteint déjà"
        " le maximum quotidien et exclut tout 19928 le même jour."
    )
    solution = (
        f"Annulez {agree(n, 'le', 'les')} 19928 ({claims(cancelled)}) : {money_fr(-impact)}"
        f" non {agree(n, 'payable')}."
    )
    fees = sorted([*kept, *cancelled], key=lambda fee: fee.row)
    return make(scenario, Severity.ERROR, day, fees, (message, solution), impact)


def passes(scenario: str, day: Day, fee: Fee, minimum: int) -> Finding:
    """P1–P4: a fee whose threshold is reached."""
    message = (
        f"Frais de cabinet {label(fee)} {when(day)} conformes :"
        f" {counts_phrase(day.counts, fee.walk_in)}, seuil de {minimum} atteint."
    )
    return make(scenario, Severity.INFO, day, [fee], (message, NO_ACTION), threshold=minimum)


def upgrade(scenario: str, day: Day, fee: Fee, minimum: int, gain: Decimal) -> Finding:
    """O1 / O2: a 19928 where the 19929 of the same group is reached."""
    hint = WALK_IN_HINT if fee.walk_in else ""
    message = (
        f"Frais de cabinet {label(fee)} {when(day)} : {counts_phrase(day.counts, fee.walk_in)},"
        f" le seuil de {minimum} du {fee_name(FEE_19929, fee.walk_in)} est atteint."
    )
    solution = (
        f"Remplacez le 19928 ({claim(fee)}) par un {fee_name(FEE_19929, fee.walk_in)}{hint} :"
        f" gain de {money_fr(gain)}."
    )
    texts = (message, solution)
    return make(scenario, Severity.OPTIMIZATION, day, [fee], texts, gain, threshold=minimum)


def add_other(scenario: str, day: Day, fee: Fee, minimum: int, gain: Decimal) -> Finding:
    """O3 / O4: a lone 19928 while the other group also reaches its 19928 threshold."""
    other = not fee.walk_in
    message = (
        f"Frais de cabinet {when(day)} : seul le {label(fee)} est facturé alors que"
        f" {counts_phrase(day.counts, other)} atteignent le seuil de {minimum} du"
        f" {fee_name(FEE_19928, other)}."
    )
    hint = WALK_IN_HINT if other else " (sans élément de contexte G160 ni AR)"
    solution = f"Ajoutez un {fee_name(FEE_19928, other)}{hint} : gain de {money_fr(gain)}."
    texts = (message, solution)
    return make(scenario, Severity.OPTIMIZATION, day, [fee], texts, gain, threshold=minimum)


def missed(day: Day, claims: Sequence[tuple[str, bool]], gain: Decimal) -> Finding:
    """MISSED: visits reaching a threshold and no fee billed; `claims` = (code, walk_in)."""
    if len(claims) == 2:
        what = (
            "deux 19928 (un pour les patients inscrits, un pour les patients sans rendez-vous"
            " avec l'élément de contexte G160 ou AR)"
        )
    else:
        code, walk_in = claims[0]
        what = f"un {fee_name(code, walk_in)}{WALK_IN_HINT if walk_in else ''}"
    message = (
        f"Pas de frais de cabinet facturés {when(day, 'le')} alors que {both_counts(day.counts)}"
        f" donnent droit à {what}."
    )
    solution = f"Facturez {what} : gain de {money_fr(gain)}."
    suggested = [{"code": code, "walkIn": walk_in} for code, walk_in in claims]
    return make(
        "MISSED", Severity.OPTIMIZATION, day, [], (message, solution), gain, claims=suggested
    )


class Tally:
    """Running totals of the findings yielded so far, for the SUMMARY that closes the run."""

    __slots__ = ("errors", "gain", "optimizations", "risk")

    def __init__(self) -> None:
        self.errors = self.optimizations = 0
        self.gain = self.risk = Decimal(0)

    def add(self, finding: Finding) -> None:
        if finding.severity is Severity.ERROR:
            self.errors += 1
        elif finding.severity is Severity.OPTIMIZATION:
            self.optimizations += 1
        impact = finding.monetary_impact
        if impact > 0:
            self.gain += impact
        elif impact < 0:
            self.risk += impact


def summary(fees: int, skipped: int, days: int, tally: Tally) -> Finding:
    """SUMMARY: once per run, always."""
    errors, optimizations, gain, risk = tally.errors, tally.optimizations, tally.gain, tally.risk
    message = (
        f"Frais de cabinet (19928/19929) : "
        f"{count(fees, 'réclamation analysée', 'réclamations analysées')} sur"
        f" {count(days, 'journée-médecin', 'journées-médecin')} ; {count(errors, 'erreur')},"
        f" {count(optimizations, 'optimisation')} ; gain potentiel total {money_fr(gain)}."
    )
    actions = []
    if errors:
        which = agree(errors, "l'erreur", "les erreurs")
        actions.append(f"Corrigez {which} de frais de cabinet avant de soumettre.")
    if optimizations:
        which = agree(optimizations, "l'optimisation proposée", "les optimisations proposées")
        actions.append(f"Appliquez {which}.")
    solution = " ".join(actions) or NO_ACTION
    data = {
        "feesSeen": fees,
        "feesSkipped": skipped,
        "doctorDays": days,
        "errors": errors,
        "optimizations": optimizations,
        "potentialGain": f"{gain:.2f}",
        "revenueAtRisk": f"{risk:.2f}",
    }
    return Finding(SLUG, "SUMMARY", Severity.INFO, message, solution, data=data)
