"""Read queries of the API and pages: pagination, findings, logs, per-group totals."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Select, case, func, select

from validateur.extensions import db
from validateur.models import RunStatus, User, ValidationLog, ValidationResult, ValidationRun
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


def _severity_rank() -> Any:
    """`Severity.rank` in SQL, so a page of findings is sorted by the database."""
    return case({severity: severity.rank for severity in Severity},
                value=ValidationResult.severity, else_=len(Severity))


def findings_query(run_id: int, severity: Severity | str | None = None,
                   rule: str | None = None) -> Select[Any]:
    """A run's findings, most urgent first, then by rule and first row."""
    query = select(ValidationResult).where(ValidationResult.validation_run_id == run_id)
    if severity:
        query = query.where(ValidationResult.severity == severity)
    if rule:
        query = query.where(ValidationResult.rule == rule)
    return query.order_by(_severity_rank(), ValidationResult.rule, ValidationResult.id)


def finding_groups(run_id: int) -> list[dict[str, Any]]:
    """Count, money at risk and money to gain per (severity, rule), most urgent first."""
    impact = ValidationResult.monetary_impact
    rows = db.session.execute(
        select(
            ValidationResult.severity,
            ValidationResult.rule,
            func.count(),
            func.coalesce(func.sum(case((impact < 0, -impact), else_=0)), 0),
            func.coalesce(func.sum(case((impact > 0, impact), else_=0)), 0),
        )
        .where(ValidationResult.validation_run_id == run_id)
        .group_by(ValidationResult.severity, ValidationResult.rule)
    ).all()
    groups = [
        {"severity": sev, "rule": rule, "count": int(count), "atRisk": Decimal(risk),
         "toGain": Decimal(gain)}
        for sev, rule, count, risk, gain in rows
    ]
    return sorted(groups, key=lambda g: (g["severity"].rank, g["rule"]))


def logs_of(run_id: int) -> list[ValidationLog]:
    return list(
        db.session.execute(
            select(ValidationLog)
            .where(ValidationLog.validation_run_id == run_id)
            .order_by(ValidationLog.timestamp, ValidationLog.id)
            .limit(MAX_LOG_LINES)
        ).scalars()
    )


def batch_findings_query(batch_id: int, severity: Severity | str | None = None,
                         rule: str | None = None) -> Select[Any]:
    """Every finding of a batch's runs, file by file (in submission order), most urgent first."""
    query = (select(ValidationResult)
             .join(ValidationRun, ValidationRun.id == ValidationResult.validation_run_id)
             .where(ValidationRun.batch_id == batch_id))
    if severity:
        query = query.where(ValidationResult.severity == severity)
    if rule:
        query = query.where(ValidationResult.rule == rule)
    return query.order_by(ValidationRun.id, _severity_rank(), ValidationResult.rule,
                          ValidationResult.id)
