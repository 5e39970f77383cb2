"""A run factory: runs written straight to the database, in any status.

Tests that need a run to act on (the sweeper, the status table, pages) make one here rather
than through an HTTP upload: no file to sniff, no job enqueued unless the test asks, and a
status no upload could give at once. Call inside an app context; returns the run id.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from validateur import storage
from validateur.extensions import db
from validateur.models import (
    BillingRecord,
    FailureCategory,
    Phase,
    RunStatus,
    User,
    ValidationRun,
    utcnow,
)
from validateur.queue import job_id_for


def _defaults(status: RunStatus, now: datetime) -> dict[str, Any]:
    """What the life in `runs` leaves on a run that reached `status`."""
    if status is RunStatus.QUEUED:
        return {"phase": Phase.QUEUED.value}
    started = {"attempts": 1, "started_at": now, "heartbeat_at": now}
    if status is RunStatus.PROCESSING:
        return {**started, "phase": Phase.PARSING.value}
    final = {**started, "finished_at": now, "stored_name": None}
    if status is RunStatus.COMPLETED:
        return {**final, "phase": Phase.DONE.value, "progress": 100}
    if status is RunStatus.FAILED:
        return {**final, "phase": Phase.PARSING.value, "error_message": "Échec de test.",
                "error_category": FailureCategory.TECHNICAL.value}
    return {**final, "phase": Phase.PARSING.value, "cancel_requested": True}


def make_run(status: RunStatus | str = RunStatus.QUEUED, *, user_id: int | None = None,
             file_name: str = "export.csv", stored_name: str | None = None,
             file_size: int = 1, encoding: str = "utf-8", delimiter: str = ",",
             **values: Any) -> int:
    """Insert and commit a run in `status` with its job id; `values` override any column.

    The run owns `stored_name` when given (from `stored_file`, when the test needs the
    file), whatever its status. It belongs to its owner's organization, as a submitted run.
    """
    status = RunStatus(status)
    owner = db.session.get(User, user_id) if user_id is not None else None
    columns: dict[str, Any] = {
        "user_id": user_id, "organization_id": owner.organization_id if owner else None,
        "file_name": file_name, "file_size": file_size,
        "encoding": encoding, "delimiter": delimiter, "status": status.value, "progress": 0,
        **_defaults(status, utcnow()), **values,
    }
    if stored_name is not None:
        columns["stored_name"] = stored_name
    run = ValidationRun(**columns)
    db.session.add(run)
    db.session.flush()
    run.job_id = job_id_for(run.id)
    db.session.commit()
    return int(run.id)


def stored_file(source: Path) -> tuple[str, int]:
    """Copy `source` into the upload directory as an upload would be: (stored name, size)."""
    return storage.store_local_file(source)


def fresh_run(app: Flask, run_id: int) -> ValidationRun:
    """The run as the database has it now (detached: its attributes stay readable)."""
    with app.app_context():
        db.session.expire_all()
        run = db.session.get(ValidationRun, run_id)
        assert run is not None
        db.session.expunge(run)
        return run


def stored_rows(app: Flask, run_id: int) -> int:
    """How many billing rows the run has in PostgreSQL."""
    with app.app_context():
        return int(db.session.execute(
            select(func.count()).select_from(BillingRecord)
            .where(BillingRecord.validation_run_id == run_id)
        ).scalar_one())
