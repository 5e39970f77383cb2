"""`clinical-minutes`: clinical interventions, at most 180 minutes per doctor per day.

RAMQ business reason: the general practitioners' manual pays clinical interventions (8857 for
the first 30 minutes, 8859 per additional 15 minutes) up to 180 minutes per physician per day;
minutes beyond the daily maximum are refused, or clawed back when already paid.

Per doctor-day (licence from `Doctor Info`, `Date de Service`): 8857 counts 30 minutes, 8859
counts its `Unités` minutes (empty or negative → 0). Rows whose context has the exact token
`ICEP`, `ICSM` or `ICTOX` are excluded (their own programs). A doctor-day over 180 minutes (180
is allowed) gives one finding, whose rows are the doctor-day's clinical rows in chronological
order (`Début`, rows without a start time last, then row number): its first row is the
chronologically first one.

- `OVER_LIMIT` (error): some row of the doctor-day is unpaid; impact −(sum of the unpaid rows'
  `Montant Preliminaire`, empty or negative amounts counting 0).
- `OVER_LIMIT_PAID` (info): every row was paid ("all paid"); impact 0.

Memory and time: per doctor-day, an index and its running total of minutes; per 8857/8859
row, its small facts as parallel columns (`columns.py`: no Python object per row); other rows
cost one lookup. At `finish` only the doctor-days over the limit get their facts back, as
`Intervention`s, in one pass over the columns. Findings are built only as they are consumed;
each carries its doctor-day's date, licence and masked doctor.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from datetime import date, time
from decimal import Decimal
from operator import itemgetter
from typing import NamedTuple

from validateur.validation.engine import ReferenceData
from validateur.validation.findings import CENT, Finding, Severity, date_fr, licence, money_fr
from validateur.validation.privacy import mask_doctor
from validateur.validation.rows import BillingRow
from validateur.validation.rules import wording
from validateur.validation.rules.columns import Claims, Interned
from validateur.validation.rules.wording import agree, count

SLUG = "clinical-minutes"
#: Every scenario the rule can produce.
SCENARIOS: tuple[str, ...] = ("OVER_LIMIT", "OVER_LIMIT_PAID")

FIRST_PERIOD_CODE = "8857"
EXTRA_PERIOD_CODE = "8859"
#: Minutes counted for one 8857 (first period of a clinical intervention).
FIRST_PERIOD_MINUTES = 30
#: Daily maximum of clinical-intervention minutes per physician (180 itself is allowed).
DAILY_LIMIT_MINUTES = 180
#: Context tokens of programs whose interventions do not count toward the daily maximum.
EXCLUDED_CONTEXT: frozenset[str] = frozenset({"ICEP", "ICSM", "ICTOX"})
#: The two codes, as the strings the acts share instead of each row's copy.
_CODES = {FIRST_PERIOD_CODE: FIRST_PERIOD_CODE, EXTRA_PERIOD_CODE: EXTRA_PERIOD_CODE}

ZERO = Decimal("0.00")
ALL_PAID = ("la réclamation a été payée", "toutes les réclamations ont été payées")

DoctorDay = tuple[str, date]


class Intervention(NamedTuple):
    """The facts kept for one 8857/8859 row."""

    row_number: int
    id_ramq: str
    code: str
    start: time | None
    minutes: int
    paid: bool
    claimed: Decimal
    doctor_info: str

    @property
    def order(self) -> tuple[bool, time, int, str]:
        return (self.start is None, self.start or time(0), self.row_number, self.id_ramq)

    @property
    def claim_number(self) -> str:
        return wording.claim_number(self.id_ramq, self.row_number)


def _minutes(code: str, units: int | None) -> int:
    if code == FIRST_PERIOD_CODE:
        return FIRST_PERIOD_MINUTES
    return max(units or 0, 0)


class ClinicalMinutesRule:
    """Flags doctor-days with more than 180 minutes of clinical interventions."""

    slug = SLUG

    def __init__(self, reference: ReferenceData) -> None:
        """`reference`: the registry passes it to every rule; this one needs none
        (its codes and limit are constants of this module)."""
        self.codes = frozenset(_CODES)
        self._new_columns()

    def _new_columns(self) -> None:
        """Per doctor-day an index and its minutes; per intervention one entry per column."""
        self._day_index: dict[DoctorDay, int] = {}
        # Lists, not arrays: `Unités` is unbounded, and small ints are shared objects anyway.
        self._day_minutes: list[int] = []
        self._groups = array("i")  # the doctor-day index of each intervention
        self._rows = array("i")
        self._claims = Claims()
        self._codes: list[str] = []
        self._starts: list[time | None] = []
        self._minutes: list[int] = []
        self._paid = bytearray()
        self._claimed: list[Decimal] = []
        self._infos: Interned[str] = Interned()  # one string per distinct `Doctor Info`
        self._doctor_infos = array("i")

    def feed(self, row: BillingRow) -> None:
        code = row.code.strip()
        if code not in _CODES:
            return
        day = row.date_service
        if day is None or not row.doctor or not row.context.isdisjoint(EXCLUDED_CONTEXT):
            return
        key = (row.doctor, day)
        group = self._day_index.get(key)
        if group is None:
            group = self._day_index[key] = len(self._day_minutes)
            self._day_minutes.append(0)
        minutes = _minutes(code, row.unites)
        self._day_minutes[group] += minutes
        self._groups.append(group)
        self._rows.append(row.row_number)
        self._claims.append(row.claim)
        self._codes.append(_CODES[code])
        self._starts.append(row.debut)
        self._minutes.append(minutes)
        self._paid.append(row.is_paid)
        self._claimed.append(max(row.montant_preliminaire or ZERO, ZERO))
        self._doctor_infos.append(self._infos.index(row.doctor_info))

    def _over_limit_days(self) -> dict[int, list[Intervention]]:
        """The interventions of each doctor-day over the limit (by doctor-day index)."""
        totals = self._day_minutes
        over: dict[int, list[Intervention]] = {
            group: [] for group, total in enumerate(totals) if total > DAILY_LIMIT_MINUTES
        }
        if not over:
            return over
        infos = self._infos.values
        for index, group in enumerate(self._groups):
            acts = over.get(group)
            if acts is not None:
                acts.append(Intervention(
                    row_number=self._rows[index],
                    id_ramq=self._claims[index],
                    code=self._codes[index],
                    start=self._starts[index],
                    minutes=self._minutes[index],
                    paid=bool(self._paid[index]),
                    claimed=self._claimed[index],
                    doctor_info=infos[self._doctor_infos[index]],
                ))
        return over

    def finish(self) -> Iterator[Finding]:
        """One finding per doctor-day over the limit, in (rows, scenario, claims) order."""
        days = {group: key for key, group in self._day_index.items()}
        over_days = self._over_limit_days()
        self._new_columns()
        over: list[_Pending] = []
        for group, acts in over_days.items():
            doctor, day = days[group]
            over.append(_pending(day, sorted(acts, key=_order), doctor))
        del days, over_days
        over.sort(key=_by_rows_scenario_claims)
        for *_, day, acts, doctor in over:
            finding = _over_limit(day, acts)
            finding.service_date, finding.doctor = day, licence(doctor)
            finding.doctor_label = finding.data["doctor"]
            yield finding


def _order(act: Intervention) -> tuple[bool, time, int, str]:
    return act.order


#: A doctor-day over the limit, sortable on its first three items like its finding.
_Pending = tuple[tuple[int, ...], str, tuple[str, ...], date, list[Intervention], str]
_by_rows_scenario_claims = itemgetter(0, 1, 2)


def _pending(day: date, acts: list[Intervention], doctor: str) -> _Pending:
    """What the finding of a doctor-day over the limit is sorted by, then its facts."""
    scenario = "OVER_LIMIT_PAID" if all(a.paid for a in acts) else "OVER_LIMIT"
    rows, claims = tuple(a.row_number for a in acts), tuple(a.id_ramq for a in acts)
    return rows, scenario, claims, day, acts, doctor


def _over_limit(day: date, acts: list[Intervention]) -> Finding:
    total = sum(a.minutes for a in acts)
    excess = total - DAILY_LIMIT_MINUTES
    unpaid = [a for a in acts if not a.paid]
    at_risk = sum((a.claimed for a in unpaid), ZERO)
    lines = len(acts)
    message = (
        f"Le {date_fr(day)}, {count(total, 'minute')} d'interventions cliniques "
        f"({FIRST_PERIOD_CODE}/{EXTRA_PERIOD_CODE}) "
        f"{agree(total, 'a été facturée', 'ont été facturées')} par le même médecin "
        f"sur {count(lines, 'ligne')}, à partir de la "
        f"{wording.claim(acts[0].id_ramq, acts[0].row_number)} : la limite est de "
        f"{DAILY_LIMIT_MINUTES} minutes par jour, soit {count(excess, 'minute')} en trop."
    )
    data = {
        "doctor": mask_doctor(acts[0].doctor_info),
        "date": day.isoformat(),
        "totalMinutes": total,
        "limitMinutes": DAILY_LIMIT_MINUTES,
        "excessMinutes": excess,
        "unpaidClaims": [a.id_ramq for a in unpaid],
        "unpaidAmount": str(at_risk.quantize(CENT)),
    }
    if not unpaid:
        scenario, severity = "OVER_LIMIT_PAID", Severity.INFO
        message += agree(lines, " La ligne a été payée.", " Toutes les lignes ont été payées.")
        all_paid = agree(lines, *ALL_PAID)
        solution = (
            f"Aucune action immédiate : {all_paid}, mais la RAMQ pourrait récupérer le paiement "
            f"de {count(excess, 'minute')} au-delà de la limite."
        )
    else:
        scenario, severity = "OVER_LIMIT", Severity.ERROR
        unpaid_claims = [a.claim_number for a in unpaid]
        message += (
            f" {agree(len(unpaid), 'Réclamation non payée', 'Réclamations non payées')} : "
            f"{wording.enumerate_fr(unpaid_claims)} ({money_fr(at_risk)})."
        )
        solution = (
            f"Réduisez les interventions cliniques du {date_fr(day)} de "
            f"{count(excess, 'minute')} (retirez ou corrigez des {EXTRA_PERIOD_CODE}/"
            f"{FIRST_PERIOD_CODE} non payés) : au-delà de {DAILY_LIMIT_MINUTES} minutes, la RAMQ "
            "refuse le paiement."
        )
    return Finding(
        rule=SLUG,
        scenario=scenario,
        severity=severity,
        message=message,
        solution=solution,
        rows=tuple(a.row_number for a in acts),
        id_ramq=tuple(a.id_ramq for a in acts),
        monetary_impact=ZERO - at_risk,
        data=data,
    )
