"""The doctor × day calendar of a run: visits, office-fee counts, amounts billed, findings.

Figures come from the whole day, never from one finding: one SQL pass over the run's
`billing_records` (grouped per doctor, day, patient and kind of visit, then per doctor-day)
and one over its findings' typed columns (`service_date`, `doctor`). Doctors are told apart by
licence (`Doctor Info`'s first 7 digits, the rules' identity), never by masked name; dates
are PostgreSQL `date` values, calendar dates with no time zone anywhere.

The counts follow the office-fee rule (docs/rules.md): a visit is a row with a patient and a
code other than 19928/19929; walk-in when its context has the token `G160` or `AR` (after
trimming, upper-casing and one leading `#`), registered otherwise; a patient is paid in a
group when one of their visit rows of that group is paid (`Montant payé` > 0), and a patient
with both kinds of visit counts in both. `visits` is the number of distinct patients with a
visit; `billed` sums `Montant Preliminaire` over every row of the doctor that day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from validateur.extensions import db
from validateur.validation.cells import doctor_identity
from validateur.validation.findings import Severity
from validateur.validation.privacy import mask_doctor

#: The rules' patient identity (`cells.patient_identity`): the NAM opening the cell, upper-cased,
#: else the trimmed text. `p` is the cell without leading spaces or tabs; the regular expression
#: and `upper` run in the "C" collation (ASCII rules, as `NAM_AT_START`): several times faster
#: than the database's locale at a million rows.
_PATIENT = (
    "CASE WHEN p COLLATE \"C\" ~ '^[A-Za-z]{4}[0-9xX*]{8}([^0-9A-Za-z*]|$)'"
    " THEN upper(left(p, 12) COLLATE \"C\") ELSE btrim(patient, E' \\t\\r\\n') END"
)
#: Walk-in: the token G160 or AR (`cells.context_tokens`); the regular expression only runs on
#: the few contexts that hold one of the two strings at all.
_WALK_IN = (
    "CASE WHEN coalesce(element_contexte, '') = '' THEN false"
    " WHEN strpos(upper(element_contexte), 'G160') = 0"
    " AND strpos(upper(element_contexte), 'AR') = 0 THEN false"
    " ELSE element_contexte ~* '(^|,)\\s*#?\\s*(G160|AR)\\s*(,|$)' END"
)
_CODE = "btrim(code, E' \\t\\r\\n')"

#: The doctor of a row is looked up per distinct `Doctor Info` (`:infos` → `:doctors`, the
#: rules' `cells.doctor_identity` computed in Python): a hash join on a few hundred texts.
_ROWS_SQL = f"""
WITH r AS (
    SELECT m.doctor COLLATE "C" AS doctor, b.date_service AS day, b.doctor_info,
           b.montant_preliminaire AS billed, coalesce(b.montant_paye, 0) > 0 AS paid,
           ({_PATIENT}) COLLATE "C" AS pid,
           {_CODE} NOT IN ('', '19928', '19929') AS visit,
           {_WALK_IN} AS walk_in
    FROM (SELECT *, ltrim(patient, E' \\t') AS p FROM billing_records
          WHERE validation_run_id = :run AND date_service IS NOT NULL
            AND date_service >= :start AND date_service < :stop) AS b
    JOIN unnest(CAST(:infos AS text[]), CAST(:doctors AS text[])) AS m(info, doctor)
      ON m.info = b.doctor_info
), p AS (
    SELECT doctor, day, pid, visit AND pid <> '' AS visit, walk_in,
           min(doctor_info COLLATE "C") AS info,
           sum(billed) AS billed, bool_or(paid) AS paid
    FROM r
    GROUP BY 1, 2, 3, 4, 5
)
SELECT doctor, day, min(info COLLATE "C") AS info, coalesce(sum(billed), 0) AS billed,
       count(DISTINCT pid) FILTER (WHERE visit) AS visits,
       count(*) FILTER (WHERE visit AND NOT walk_in AND paid) AS rp,
       count(*) FILTER (WHERE visit AND NOT walk_in AND NOT paid) AS ru,
       count(*) FILTER (WHERE visit AND walk_in AND paid) AS wp,
       count(*) FILTER (WHERE visit AND walk_in AND NOT paid) AS wu
FROM p
GROUP BY 1, 2
"""
#: Only the texts of the dates asked for (the rows joined are those dates' rows anyway): one
#: month is read through `ix_billing_records_run_date`, not the whole run.
_INFOS_SQL = """
SELECT DISTINCT doctor_info FROM billing_records
WHERE validation_run_id = :run AND coalesce(doctor_info, '') <> ''
  AND date_service >= :start AND date_service < :stop
"""
#: For this query's transaction only: sort a million rows in memory rather than on disk, and
#: join the few `Doctor Info` texts by hash (rows just copied have no statistics yet, and the
#: planner's guess of a few rows made it loop over them once per text: 40 s instead of 1).
_SETTINGS = ("SET LOCAL work_mem = '256MB'", "SET LOCAL enable_nestloop = off")

_FINDINGS_SQL = """
SELECT doctor, service_date,
       count(*) FILTER (WHERE severity <> 'info') AS findings,
       coalesce(sum(monetary_impact) FILTER (WHERE monetary_impact > 0), 0) AS gain,
       coalesce(-sum(monetary_impact) FILTER (WHERE monetary_impact < 0), 0) AS risk,
       bool_or(severity = 'error') AS error, bool_or(severity = 'optimization') AS optimization
FROM validation_results
WHERE validation_run_id = :run AND doctor IS NOT NULL AND service_date IS NOT NULL
  AND service_date >= :start AND service_date < :stop {doctor_filter}
GROUP BY 1, 2
"""

_FIRST_DAY, _LAST_DAY = date(1, 1, 1), date(9999, 12, 31)
ZERO = Decimal("0.00")


@dataclass
class Day:
    """One doctor-day of the calendar."""

    day: date
    visits: int = 0
    registered: tuple[int, int] = (0, 0)  # (paid, unpaid)
    walk_in: tuple[int, int] = (0, 0)
    billed: Decimal = ZERO
    potential_gain: Decimal = ZERO
    money_at_risk: Decimal = ZERO
    findings: int = 0
    status: str = "ok"

    def as_json(self) -> dict[str, Any]:
        return {
            "date": self.day.isoformat(),
            "visits": self.visits,
            "registered": {"paid": self.registered[0], "unpaid": self.registered[1]},
            "walkIn": {"paid": self.walk_in[0], "unpaid": self.walk_in[1]},
            "billed": _money(self.billed),
            "potentialGain": _money(self.potential_gain),
            "moneyAtRisk": _money(self.money_at_risk),
            "findings": self.findings,
            "status": self.status,
        }


@dataclass
class Doctor:
    """One doctor of the calendar: the licence (None when `Doctor Info` has none) and days."""

    identity: str
    info: str
    days: dict[date, Day] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        licence = self.identity if _is_licence(self.identity) else None
        return {
            "doctor": licence,
            "label": mask_doctor(self.info),
            "days": [self.days[day].as_json() for day in sorted(self.days)],
        }


def _money(amount: Decimal) -> str:
    return f"{Decimal(amount).quantize(ZERO):.2f}"


def _is_licence(identity: str) -> bool:
    return len(identity) == 7 and identity.isdigit()


def month_range(month: date | None) -> tuple[date, date]:
    """[first day, first day of the next month), or every date when `month` is None."""
    if month is None:
        return _FIRST_DAY, _LAST_DAY
    first = month.replace(day=1)
    stop = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, stop


def calendar(run_id: int, doctor: str | None = None, month: date | None = None
             ) -> list[dict[str, Any]]:
    """The calendar of a run: doctors (by licence) × days, optionally one licence, one month."""
    start, stop = month_range(month)
    infos = _identities(run_id, doctor, start, stop)
    params: dict[str, Any] = {"run": run_id, "start": start, "stop": stop,
                              "infos": list(infos), "doctors": list(infos.values())}
    findings_filter = ""
    if doctor:
        params["doctor"] = doctor
        findings_filter = "AND doctor = :doctor"
    doctors: dict[str, Doctor] = {}
    for setting in _SETTINGS:
        db.session.execute(text(setting))
    for row in db.session.execute(text(_ROWS_SQL), params):
        _add_day(doctors, row)
    for row in db.session.execute(text(_FINDINGS_SQL.replace("{doctor_filter}", findings_filter)),
                                  params):
        _add_findings(doctors, row)
    return [doctors[key].as_json() for key in sorted(doctors)]


def _identities(run_id: int, doctor: str | None, start: date, stop: date) -> dict[str, str]:
    """`Doctor Info` text → the rules' doctor identity, for the run's distinct texts of the
    dates [start, stop) (only those of licence `doctor` when given)."""
    texts = db.session.execute(text(_INFOS_SQL),
                               {"run": run_id, "start": start, "stop": stop}).scalars()
    found = {info: doctor_identity(info) for info in texts}
    return {info: who for info, who in found.items()
            if who and (doctor is None or who == doctor)}


def _add_day(doctors: dict[str, Doctor], row: Any) -> None:
    entry = doctors.get(row.doctor)
    if entry is None:
        entry = doctors[row.doctor] = Doctor(row.doctor, row.info)
    elif row.info < entry.info:  # the smallest text, like the office-fee rule: order-free
        entry.info = row.info
    entry.days[row.day] = Day(row.day, int(row.visits), (int(row.rp), int(row.ru)),
                              (int(row.wp), int(row.wu)), Decimal(row.billed))


def _add_findings(doctors: dict[str, Doctor], row: Any) -> None:
    """A doctor-day's findings; a day with findings and no row (none expected) is skipped."""
    entry = doctors.get(row.doctor)
    day = entry.days.get(row.service_date) if entry else None
    if day is None:
        return
    day.findings = int(row.findings)
    day.potential_gain, day.money_at_risk = Decimal(row.gain), Decimal(row.risk)
    day.status = _status(row.error, row.optimization)


def _status(error: bool, optimization: bool) -> str:
    """The most urgent of error and optimization among the day's findings, else `ok`."""
    if error:
        return Severity.ERROR.value
    if optimization:
        return Severity.OPTIMIZATION.value
    return "ok"
