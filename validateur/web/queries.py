"""Read queries of the API and pages: pagination, findings, logs, per-group totals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, select, text

from validateur.extensions import db
from validateur.models import (
    BillingRecord,
    RunStatus,
    User,
    ValidationLog,
    ValidationResult,
    ValidationRun,
)
from validateur.validation.findings import Severity

MAX_LOG_LINES = 500


def paginate(query: Select[Any], page: int, per_page: int) -> tuple[list[Any], int]:
    total = db.session.execute(
        select(func.count()).select_from(query.order_by(None).subquery())
    ).scalar_one()
    items = db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)).all()
    return list(items), int(total)


def last_page(total: int, per_page: int) -> int:
    """The number of the last page (1 when there is nothing: an empty first page)."""
    return max((total + per_page - 1) // per_page, 1)


def filter_runs(query: Select[Any], status: RunStatus | str | None = None,
                name_part: str | None = None, batch_id: int | None = None) -> Select[Any]:
    """Runs of one status and/or whose file name contains `name_part` (any case), and/or
    of one batch."""
    if batch_id is not None:
        query = query.where(ValidationRun.batch_id == batch_id)
    if status:
        query = query.where(ValidationRun.status == status)
    if name_part:
        escaped = name_part.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(ValidationRun.file_name.ilike(f"%{escaped}%", escape="\\"))
    return query


def owner_emails(runs: list[ValidationRun]) -> dict[int, str]:
    """The e-mail of each run's owner, by user id, in one query."""
    ids = {run.user_id for run in runs if run.user_id is not None}
    if not ids:
        return {}
    rows = db.session.execute(select(User.id, User.email).where(User.id.in_(ids))).all()
    return {user_id: email for user_id, email in rows}


def findings_query(run_id: int, severity: Severity | str | None = None,
                   rule: str | None = None, *, scenario: str | None = None,
                   doctor: str | None = None, day: date | None = None,
                   claim: str | None = None, claims: list[str] | None = None) -> Select[Any]:
    """A run's findings, most urgent first, then by rule and id; the filters combine.

    The order is the index `ix_validation_results_run_order` (run, severity rank, rule, id),
    so a page is read from it, not sorted from the whole run; `doctor` and `day` have their
    own index, `claim` the GIN index of `id_ramq`.
    """
    query = select(ValidationResult).where(
        *_finding_filters(run_id, severity, rule, scenario, doctor, day, claim, claims))
    return query.order_by(ValidationResult.severity_rank, ValidationResult.rule,
                          ValidationResult.id)


def filtered_findings(run_id: int, args: Mapping[str, Any]) -> Select[Any]:
    """`findings_query` with the checked arguments of `schemas.result_args`."""
    return findings_query(run_id, args.get("severity"), args.get("rule"),
                          scenario=args.get("scenario"), doctor=args.get("doctor"),
                          day=args.get("date"), claim=args.get("claim"),
                          claims=args.get("claims"))


def _finding_filters(run_id: int, severity: Severity | str | None, rule: str | None,
                     scenario: str | None, doctor: str | None, day: date | None,
                     claim: str | None, claims: list[str] | None = None) -> list[Any]:
    result = ValidationResult
    conditions: list[Any] = [result.validation_run_id == run_id]
    if severity:  # by rank: the column the ordering index starts with
        conditions.append(result.severity_rank == Severity(severity).rank)
    if rule:
        conditions.append(result.rule == rule)
    if scenario:
        conditions.append(result.scenario == scenario)
    if doctor:
        conditions.append(result.doctor == doctor)
    if day:
        conditions.append(result.service_date == day)
    if claim:
        conditions.append(result.id_ramq.contains([claim]))
    if claims is not None:  # the claims of an invoice (`invoice_claims`), by the GIN index
        conditions.append(result.id_ramq.overlap(claims))
    return conditions


def finding_groups(run_id: int, args: Mapping[str, Any] | None = None, *,
                   by_scenario: bool = False) -> list[dict[str, Any]]:
    """Count, money at risk and money to gain per (severity, rule[, scenario]), most urgent
    first; `args` are the findings' filters (`schemas.result_args`), none by default."""
    args = args or {}
    keys = [ValidationResult.severity, ValidationResult.rule]
    if by_scenario:
        keys.append(ValidationResult.scenario)
    conditions = _finding_filters(run_id, args.get("severity"), args.get("rule"),
                                  args.get("scenario"), args.get("doctor"), args.get("date"),
                                  args.get("claim"), args.get("claims"))
    query = select(*keys, *_group_totals()).where(*conditions)
    return _grouped(db.session.execute(query.group_by(*keys)).all(), by_scenario=by_scenario)


def _group_totals() -> list[Any]:
    """Count, money at risk (as a positive amount) and money to gain of a group."""
    impact = ValidationResult.monetary_impact
    return [func.count(),
            func.coalesce(func.sum(case((impact < 0, -impact), else_=0)), 0),
            func.coalesce(func.sum(case((impact > 0, impact), else_=0)), 0)]


def _grouped(rows: Sequence[Any], *, by_scenario: bool) -> list[dict[str, Any]]:
    groups = []
    for row in rows:
        sev, rule, *rest = row
        scenario = rest.pop(0) if by_scenario else None
        count, risk, gain = rest
        group = {"severity": Severity(sev), "rule": rule, "count": int(count),
                 "atRisk": Decimal(risk), "toGain": Decimal(gain)}
        if by_scenario:
            group["scenario"] = scenario
        groups.append(group)
    return sorted(groups, key=lambda g: (g["severity"].rank, g["rule"], g.get("scenario", "")))


def logs_of(run_id: int) -> list[ValidationLog]:
    return list(
        db.session.execute(
            select(ValidationLog)
            .where(ValidationLog.validation_run_id == run_id)
            .order_by(ValidationLog.timestamp, ValidationLog.id)
            .limit(MAX_LOG_LINES)
        ).scalars()
    )


def _of_batch(batch_id: int, severity: Severity | str | None,
              rule: str | None) -> list[ColumnElement[bool]]:
    """Where a query over a batch's findings (joined to their runs) is narrowed: the batch,
    and the batch exports' filters."""
    where: list[ColumnElement[bool]] = [ValidationRun.batch_id == batch_id]
    if severity:
        where.append(ValidationResult.severity == severity)
    if rule:
        where.append(ValidationResult.rule == rule)
    return where


#: Findings joined to their runs, for the batch's queries.
_BY_RUN = ValidationRun.id == ValidationResult.validation_run_id


def batch_findings_query(batch_id: int, severity: Severity | str | None = None,
                         rule: str | None = None) -> Select[Any]:
    """Every finding of a batch's runs, file by file (in submission order), most urgent first."""
    query = (select(ValidationResult).join(ValidationRun, _BY_RUN)
             .where(*_of_batch(batch_id, severity, rule)))
    return query.order_by(ValidationRun.id, ValidationResult.severity_rank, ValidationResult.rule,
                          ValidationResult.id)


def batch_finding_groups(batch_id: int, severity: Severity | str | None = None,
                         rule: str | None = None) -> list[dict[str, Any]]:
    """`finding_groups` over every run of a batch (the batch workbook's « Résumé »), with
    the same filters as `batch_findings_query`."""
    keys = [ValidationResult.severity, ValidationResult.rule]
    query = (select(*keys, *_group_totals()).join(ValidationRun, _BY_RUN)
             .where(*_of_batch(batch_id, severity, rule)))
    return _grouped(db.session.execute(query.group_by(*keys)).all(), by_scenario=False)


#: Distinct licences by a loose index scan of `ix_validation_results_run_doctor_date` (one
#: index probe per doctor instead of reading 131,000 findings), each with the masked label
#: of its first finding (one licence is one `Doctor Info`, hence one label).
_DOCTORS_SQL = text("""
WITH RECURSIVE d AS (
    (SELECT doctor FROM validation_results
     WHERE validation_run_id = :run AND doctor IS NOT NULL ORDER BY doctor LIMIT 1)
    UNION ALL
    SELECT (SELECT v.doctor FROM validation_results v
            WHERE v.validation_run_id = :run AND v.doctor > d.doctor ORDER BY v.doctor LIMIT 1)
    FROM d WHERE d.doctor IS NOT NULL
)
SELECT d.doctor,
       (SELECT v.doctor_label FROM validation_results v
        WHERE v.validation_run_id = :run AND v.doctor = d.doctor
          AND v.doctor_label IS NOT NULL LIMIT 1) AS label
FROM d WHERE d.doctor IS NOT NULL
""")


def finding_doctors(run_id: int) -> list[tuple[str, str]]:
    """(licence, masked label) of every doctor a finding of the run names, by licence (two
    doctors with one initial stay two). Read from the findings' index, never from the run's
    million billing rows, so the run page and the calendar's selector stay fast; a doctor
    with no finding at all is not offered (the calendar API still has them)."""
    rows = db.session.execute(_DOCTORS_SQL, {"run": run_id}).all()
    return [(str(licence), label or "") for licence, label in rows]


_RULES_SQL = text("""
WITH RECURSIVE r AS (
    (SELECT rule FROM validation_results WHERE validation_run_id = :run ORDER BY rule LIMIT 1)
    UNION ALL
    SELECT (SELECT v.rule FROM validation_results v
            WHERE v.validation_run_id = :run AND v.rule > r.rule ORDER BY v.rule LIMIT 1)
    FROM r WHERE r.rule IS NOT NULL
)
SELECT rule FROM r WHERE rule IS NOT NULL
""")


def finding_rules(run_id: int) -> list[str]:
    """The rules that wrote findings in a run (the run page's rule filter), by a loose index
    scan of `ix_validation_results_run_rule_scenario`: a few probes, not a pass over the run."""
    return [str(rule) for rule in db.session.scalars(_RULES_SQL, {"run": run_id})]


def first_finding_day(run_id: int, doctor: str) -> date | None:
    """The earliest service date of a doctor's findings (the calendar opens on its month)."""
    day: date | None = db.session.execute(
        select(func.min(ValidationResult.service_date))
        .where(ValidationResult.validation_run_id == run_id, ValidationResult.doctor == doctor)
    ).scalar_one()
    return day


def invoice_claims(run_id: int, invoice: str) -> tuple[int, list[str]]:
    """How many rows one invoice (`Facture`) has in the run, and their claim numbers: the run
    page's search finds the invoice's findings through their claims (the GIN index)."""
    rows = db.session.execute(
        select(BillingRecord.id_ramq)
        .where(BillingRecord.validation_run_id == run_id, BillingRecord.facture == invoice)
    ).scalars().all()
    return len(rows), sorted({claim.strip() for claim in rows if claim and claim.strip()})
