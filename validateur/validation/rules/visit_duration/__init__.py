"""`visit-duration`: when a clinical intervention pays more than the visit billed.

RAMQ business reason: a long encounter billed as a consultation, examination or visit code
(tariff manual, section `B - CONSULTATION, EXAMEN ET VISITE`) may pay less than the same time
billed as a clinical intervention: 8857 pays 59,70 $ for the first 30 minutes and 8859 pays
29,85 $ per additional full 15 minutes. When the documented duration is worth more as an
intervention than the amount billed, the difference is money left on the table.

- Needs the reference codes table (its consultation codes, 8857/8859 excluded). Not loaded (or
  loaded without any consultation code): the rule reports once that it was skipped (`SKIPPED`).
- A row whose code is a consultation code, with both `Début` and `Fin` and a `Montant
  Preliminaire` (a negative amount is a cancellation: skipped): duration = `Fin` − `Début` in
  whole minutes. End before start is invalid (no finding); `00:00` in either time means "no
  time" in these exports, so such rows are skipped.
- Duration ≥ 30 minutes: value = 59,70 $ + 29,85 $ × floor((duration − 30) / 15). If it exceeds
  `Montant Preliminaire`: `O1` (optimization) with impact = the difference, naming the codes
  to bill (8857, plus 8859 × n).

Stateless per row: only the facts of each optimization are kept, as parallel columns
(`columns.py`: no Python object per visit; the value is recomputed from the minutes), rebuilt
as `Visit`s in row order at the end; findings are built only as they are consumed.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator
from datetime import date, time
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

from validateur.validation.engine import ReferenceData
from validateur.validation.findings import (
    CENT,
    Finding,
    Severity,
    date_fr,
    money_fr,
    set_doctor,
)
from validateur.validation.rows import BillingRow
from validateur.validation.rules import wording
from validateur.validation.rules.columns import Claims, Interned
from validateur.validation.rules.wording import count

SLUG = "visit-duration"
#: Every scenario the rule can produce.
SCENARIOS: tuple[str, ...] = ("O1", "SKIPPED")

FIRST_PERIOD_CODE = "8857"
EXTRA_PERIOD_CODE = "8859"
#: RAMQ tariffs (the reference table is not used for them).
FIRST_PERIOD_TARIFF = Decimal("59.70")
EXTRA_PERIOD_TARIFF = Decimal("29.85")
#: Minutes covered by 8857, and by each additional full period billed as 8859.
FIRST_PERIOD_MINUTES = 30
EXTRA_PERIOD_MINUTES = 15
#: Codes that are themselves the clinical intervention: never compared with it.
INTERVENTION_CODES: frozenset[str] = frozenset({FIRST_PERIOD_CODE, EXTRA_PERIOD_CODE})
#: `00:00` stands for "no time" in the exports.
NO_TIME = time(0, 0)
ZERO = Decimal("0")


def duration_minutes(start: time, end: time) -> int | None:
    """Whole minutes from `start` to `end` the same day; `None` when the end is before."""
    start_s = start.hour * 3600 + start.minute * 60 + start.second
    end_s = end.hour * 3600 + end.minute * 60 + end.second
    return None if end_s < start_s else (end_s - start_s) // 60


def intervention_value(minutes: int) -> tuple[Decimal, int]:
    """Value of `minutes` billed as 8857 + n × 8859, and n (`minutes` ≥ 30)."""
    extra_periods = (minutes - FIRST_PERIOD_MINUTES) // EXTRA_PERIOD_MINUTES
    return FIRST_PERIOD_TARIFF + EXTRA_PERIOD_TARIFF * extra_periods, extra_periods


class Visit(NamedTuple):
    """The facts of one visit worth more as a clinical intervention."""

    row_number: int
    id_ramq: str
    code: str
    day: date | None
    minutes: int
    value: Decimal
    extra_periods: int
    billed: Decimal
    doctor: str
    doctor_info: str


class VisitDurationRule:
    """Finds long visits that would pay more billed as clinical interventions."""

    slug = SLUG

    def __init__(self, reference: ReferenceData) -> None:
        codes = reference.consultation_codes or frozenset()
        self._codes: frozenset[str] = codes - INTERVENTION_CODES
        self._code_strings = {code: code for code in self._codes}  # shared by the visits kept
        self.codes = self._codes
        self._new_columns()

    def _new_columns(self) -> None:
        """One column per kept field of a `Visit` (value and periods follow from minutes)."""
        self._rows = array("i")
        self._claims = Claims()
        self._visit_codes: list[str] = []
        self._days: list[date | None] = []
        self._minutes = array("i")
        self._billed: list[Decimal] = []
        self._doctors: list[str] = []
        self._infos: Interned[str] = Interned()
        self._doctor_infos = array("i")

    def feed(self, row: BillingRow) -> None:
        start, end = row.debut, row.fin
        if start is None or end is None:  # most visits: checked first, before anything else
            return
        code = row.code.strip()
        billed = row.montant_preliminaire
        if code not in self._codes or billed is None or billed < ZERO:
            return
        if NO_TIME in (start, end):
            return
        minutes = duration_minutes(start, end)
        if minutes is None or minutes < FIRST_PERIOD_MINUTES:
            return
        value, _ = intervention_value(minutes)
        if value > billed:
            self._rows.append(row.row_number)
            self._claims.append(row.claim)
            self._visit_codes.append(self._code_strings[code])
            self._days.append(row.date_service)
            self._minutes.append(minutes)
            self._billed.append(billed)
            self._doctors.append(row.doctor)
            self._doctor_infos.append(self._infos.index(row.doctor_info))

    def _visit(self, index: int) -> Visit:
        minutes = self._minutes[index]
        value, extra_periods = intervention_value(minutes)
        return Visit(
            self._rows[index], self._claims[index], self._visit_codes[index], self._days[index],
            minutes, value, extra_periods, self._billed[index], self._doctors[index],
            self._infos.values[self._doctor_infos[index]],
        )

    def finish(self) -> Iterator[Finding]:
        if not self._codes:
            yield _skipped()
            return
        rows, claims = self._rows, self._claims
        order = sorted(range(len(rows)), key=lambda index: (rows[index], claims[index]))
        money = lru_cache(maxsize=4_096)(money_fr)  # amounts repeat; this run only
        labels: dict[str, str] = {}
        for index in order:
            visit = self._visit(index)
            finding = _optimization(visit, money)
            finding.service_date = visit.day
            yield set_doctor(finding, visit.doctor, visit.doctor_info, labels)
        self._new_columns()


def _codes_to_bill(extra_periods: int) -> str:
    if extra_periods == 0:
        return f"{FIRST_PERIOD_CODE} seul"
    return f"{FIRST_PERIOD_CODE} + {extra_periods} × {EXTRA_PERIOD_CODE}"


_TARIFFS_FR = (
    f"{money_fr(FIRST_PERIOD_TARIFF)} pour les {FIRST_PERIOD_MINUTES} premières minutes, "
    f"{money_fr(EXTRA_PERIOD_TARIFF)} par {EXTRA_PERIOD_MINUTES} minutes complètes de plus"
)


def _optimization(visit: Visit, money: Callable[[Decimal], str]) -> Finding:
    """O1; `money` is `money_fr`, remembered for the run."""
    code, minutes, value, billed = visit.code, visit.minutes, visit.value, visit.billed
    claim = wording.claim(visit.id_ramq, visit.row_number)
    extra_periods = visit.extra_periods
    gain = value - billed
    to_bill = _codes_to_bill(extra_periods)
    message = (
        f"R{claim[1:]} du {date_fr(visit.day)} : visite {code} de {count(minutes, 'minute')} "
        f"facturée {money(billed)} ; en intervention clinique ({to_bill}), elle vaudrait "
        f"{money(value)}, soit {money(gain)} de plus."
    )
    solution = (
        f"Si le dossier documente la durée de {count(minutes, 'minute')}, remplacez le code "
        f"{code} de la {claim} par {to_bill} ({_TARIFFS_FR})."
    )
    data = {
        "code": code,
        "date": visit.day.isoformat() if visit.day else None,
        "durationMinutes": minutes,
        "billed": str(billed.quantize(CENT)),
        "interventionValue": str(value.quantize(CENT)),
        "codesToBill": {FIRST_PERIOD_CODE: 1, EXTRA_PERIOD_CODE: extra_periods},
    }
    rows, claims = (visit.row_number,), (visit.id_ramq,)
    return Finding(SLUG, "O1", Severity.OPTIMIZATION, message, solution, rows, claims, gain, data)


def _skipped() -> Finding:
    return Finding(
        rule=SLUG,
        scenario="SKIPPED",
        severity=Severity.INFO,
        message=(
            "La table des codes RAMQ n'est pas chargée : la comparaison de la durée des visites "
            f"avec les interventions cliniques ({FIRST_PERIOD_CODE}/{EXTRA_PERIOD_CODE}) n'a "
            "pas été faite."
        ),
        solution=(
            "Demandez à un administrateur d'importer la table des codes RAMQ, puis relancez "
            "la validation."
        ),
        data={"consultationCodes": 0},
    )
