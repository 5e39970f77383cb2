"""Enum-typed columns: VARCHAR in PostgreSQL, enum members in Python, one order of severity."""

from __future__ import annotations

import pytest
import sqlalchemy.exc
from flask import Flask
from sqlalchemy import select, text, update

from validateur import auth, labels
from validateur.extensions import db
from validateur.models import (
    FailureCategory,
    Phase,
    Role,
    RunStatus,
    ValidationResult,
    ValidationRun,
    count_column,
    count_values,
)
from validateur.schemas import ARGUMENT_RULES
from validateur.validation.findings import Severity
from validateur.web import queries


def _run(**values: object) -> int:
    run = ValidationRun(file_name="mars.csv", stored_name="stored", **values)
    db.session.add(run)
    db.session.commit()
    return int(run.id)


def test_columns_store_the_value_and_load_the_member(app: Flask, app_ctx: None) -> None:
    run_id = _run(status=RunStatus.FAILED, phase="parsing",  # a member or its value alike
                  error_category=FailureCategory.UNREADABLE_FILE)
    db.session.expire_all()
    run = db.session.get(ValidationRun, run_id)
    assert run is not None
    assert run.status is RunStatus.FAILED and run.phase is Phase.PARSING
    assert run.error_category is FailureCategory.UNREADABLE_FILE
    stored = db.session.execute(text(
        "SELECT status, phase, error_category FROM validation_runs WHERE id = :id"),
        {"id": run_id}).one()
    assert tuple(stored) == ("failed", "parsing", "unreadable-file")
    assert type(stored[0]) is str
    user, _ = auth.create_user("lecteur@exemple.test", Role.VIEWER)
    db.session.expire_all()
    assert db.session.get(type(user), user.id).role is Role.VIEWER  # type: ignore[union-attr]


def test_a_value_outside_the_enum_is_refused(app: Flask, app_ctx: None) -> None:
    run_id = _run()
    with pytest.raises(sqlalchemy.exc.StatementError):
        db.session.execute(select(ValidationRun).where(ValidationRun.status == "bogus"))
    db.session.rollback()
    found = db.session.execute(select(ValidationRun.id).where(
        ValidationRun.status == "queued")).scalars().all()  # a plain value still compares
    assert found == [run_id]


def test_severity_has_one_order_everywhere(app: Flask, app_ctx: None) -> None:
    assert [s.rank for s in Severity] == [0, 1, 2, 3]
    assert list(labels.SEVERITY) == list(Severity) == list(labels.SEVERITY_PLURAL)
    assert ARGUMENT_RULES["severity"] == "error, warning, optimization ou info"
    assert [count_column(s) for s in Severity] == [
        "error_count", "warning_count", "optimization_count", "info_count"]
    run_id = _run()
    for severity in reversed(Severity):  # stored least urgent first
        db.session.add(ValidationResult(validation_run_id=run_id, rule="office-fee",
                                        scenario="X", severity=severity, message="m"))
    db.session.commit()
    ordered = db.session.scalars(queries.findings_query(run_id)).all()
    assert [f.severity for f in ordered] == list(Severity)
    assert [g["severity"] for g in queries.finding_groups(run_id)] == list(Severity)
    counts = {str(s): n for n, s in enumerate(Severity, start=1)}  # as the job sums them
    db.session.execute(update(ValidationRun).where(ValidationRun.id == run_id)
                       .values(**count_values(counts)))
    db.session.commit()
    db.session.expire_all()
    run = db.session.get(ValidationRun, run_id)
    assert run is not None and run.counts == {Severity.ERROR: 1, Severity.WARNING: 2,
                                              Severity.OPTIMIZATION: 3, Severity.INFO: 4}
    assert run.error_count == 1 and run.info_count == 4
