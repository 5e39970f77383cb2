"""The run lifecycle: the only code that changes a run's status.

Statuses only move forward (queued → processing → completed | failed | cancelled; a retry
puts a processing run back to queued), `progress` never goes back, and every final state
stamps `finished_at`. Guards are written in SQL (`WHERE status IN …`) so two processes racing
on the same run (a worker and a cancel, a retry and the sweeper) cannot both win.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import delete, func, select, text, update

from validateur.extensions import db
from validateur.models import (
    BillingRecord,
    FailureCategory,
    Phase,
    RunStatus,
    ValidationResult,
    ValidationRun,
    count_values,
    utcnow,
)
from validateur.queue import job_id_for

OPEN_STATUSES = (RunStatus.QUEUED, RunStatus.PROCESSING)


def create_run(user_id: int | None, file_name: str, stored_name: str, file_size: int,
               encoding: str, delimiter: str) -> ValidationRun:
    """Insert and commit a queued run (committed before any enqueue)."""
    run = add_run(user_id, file_name, stored_name, file_size, encoding, delimiter)
    commit_keeping(run)
    return run


def add_run(user_id: int | None, file_name: str, stored_name: str, file_size: int,
            encoding: str, delimiter: str) -> ValidationRun:
    """Insert a queued run in the session's transaction (flushed: it has its id and job id)."""
    run = ValidationRun(
        user_id=user_id,
        file_name=file_name[:255],
        stored_name=stored_name,
        file_size=file_size,
        encoding=encoding,
        delimiter=delimiter,
        status=RunStatus.QUEUED,
        phase=Phase.QUEUED,
        progress=0,
    )
    db.session.add(run)
    db.session.flush()
    run.job_id = job_id_for(run.id)
    db.session.flush()
    return run


def commit_keeping(run: ValidationRun) -> None:
    """Commit, keeping `run`'s attributes as written: no SELECT to reload them afterwards.

    The run leaves the session (detached) before the commit, which would expire it; its
    values are those just inserted, and the upload only reads id, status and job id. (A
    server-side default or a relationship read from it later would need a fresh `get`.)
    """
    db.session.flush()
    db.session.expunge(run)
    db.session.commit()


def _transition(run_id: int, allowed: tuple[str, ...], *, durable: bool = True,
                **values: object) -> bool:
    if not durable:
        # This commit need not wait for its WAL to reach the disk: while a COPY is writing
        # the run's rows, that wait covers the COPY's WAL written so far too. A crash may
        # lose this write; the next one repeats it.
        db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    result = db.session.execute(
        update(ValidationRun)
        .where(ValidationRun.id == run_id, ValidationRun.status.in_(allowed))
        .values(**values)
    )
    db.session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def start_attempt(run_id: int) -> bool:
    """queued/processing → processing for a new attempt; False if the run is final."""
    return _transition(
        run_id,
        OPEN_STATUSES,
        status=RunStatus.PROCESSING,
        phase=Phase.PARSING,
        attempts=ValidationRun.attempts + 1,
        started_at=func.coalesce(ValidationRun.started_at, func.now()),
        heartbeat_at=func.now(),
        error_message=None,
    )


def record_progress(run_id: int, phase: Phase, progress: int, processed_rows: int) -> bool:
    """Store phase and progress (monotonic) and beat the heartbeat; False once not processing."""
    return _transition(
        run_id,
        (RunStatus.PROCESSING,),
        durable=False,
        phase=phase,
        progress=func.greatest(ValidationRun.progress, progress),
        processed_rows=processed_rows,
        heartbeat_at=func.now(),
    )


def complete(run_id: int, *, total_rows: int, counts: dict[str, int],
             potential_gain: Decimal, money_at_risk: Decimal) -> bool:
    return _transition(
        run_id,
        (RunStatus.PROCESSING,),
        status=RunStatus.COMPLETED,
        phase=Phase.DONE,
        progress=100,
        total_rows=total_rows,
        processed_rows=total_rows,
        **count_values(counts),
        potential_gain=potential_gain,
        money_at_risk=money_at_risk,
        finished_at=func.now(),
        stored_name=None,
    )


def fail(run_id: int, message: str, category: FailureCategory) -> bool:
    """Any open run → failed with a French message (no cell values in it) and its category."""
    return _transition(
        run_id, OPEN_STATUSES, status=RunStatus.FAILED, error_message=message[:2000],
        error_category=category, finished_at=func.now(), stored_name=None,
    )


def cancel(run_id: int) -> bool:
    """queued/processing → cancelled; the worker sees it at its next cooperative check."""
    return _transition(
        run_id, OPEN_STATUSES, status=RunStatus.CANCELLED, cancel_requested=True,
        finished_at=func.now(), stored_name=None,
    )


def delete_run_data(run_id: int) -> None:
    """Remove a run's billing rows and findings, in one transaction.

    The run row is locked first (`FOR NO KEY UPDATE`): a job about to commit this run's rows
    holds it `FOR SHARE` (`records.RunWriter.still_processing`), so this waits for that
    commit and then removes the rows it made visible; a job that has not reached that point
    yet sees the run's new status there and rolls back. The lock does not block a job
    inserting findings (their foreign key only needs `FOR KEY SHARE`).
    """
    _lock_run_row(run_id, "FOR NO KEY UPDATE")
    _delete_rows_and_findings(run_id)
    db.session.commit()


def delete_run(run_id: int) -> None:
    """Remove a run and everything it owns (rows, findings, logs via cascade), at once.

    The run row is locked `FOR UPDATE` before anything is deleted, so a job committing its
    rows (which holds the row `FOR SHARE` until its commit) is waited for, and its rows go
    with the run: `billing_records` has no foreign key that would otherwise catch them.
    """
    _lock_run_row(run_id, "FOR UPDATE")
    _delete_rows_and_findings(run_id)
    db.session.execute(delete(ValidationRun).where(ValidationRun.id == run_id))
    db.session.commit()


def _lock_run_row(run_id: int, mode: str) -> None:
    db.session.execute(text(f"SELECT 1 FROM validation_runs WHERE id = :id {mode}"),
                       {"id": run_id})


def _delete_rows_and_findings(run_id: int) -> None:
    db.session.execute(delete(BillingRecord).where(BillingRecord.validation_run_id == run_id))
    db.session.execute(
        delete(ValidationResult).where(ValidationResult.validation_run_id == run_id)
    )


def is_open(run: ValidationRun) -> bool:
    return run.status in OPEN_STATUSES


def status_of(run_id: int) -> RunStatus | None:
    status: RunStatus | None = db.session.execute(
        select(ValidationRun.status).where(ValidationRun.id == run_id)
    ).scalar_one_or_none()
    return status


def is_processing(run_id: int) -> bool:
    return status_of(run_id) == RunStatus.PROCESSING


def stalled_runs(stale_after_seconds: int) -> list[ValidationRun]:
    """Open runs with no sign of life for `stale_after_seconds` (heartbeat, else creation)."""
    cutoff = utcnow() - timedelta(seconds=stale_after_seconds)
    last_sign = func.coalesce(ValidationRun.heartbeat_at, ValidationRun.created_at)
    return list(db.session.execute(
        select(ValidationRun).where(ValidationRun.status.in_(OPEN_STATUSES), last_sign < cutoff)
    ).scalars())


def expired_runs(retention_days: int) -> list[int]:
    """Final runs finished more than `retention_days` ago."""
    cutoff = utcnow() - timedelta(days=retention_days)
    return list(db.session.execute(
        select(ValidationRun.id).where(ValidationRun.status.not_in(OPEN_STATUSES),
                                       ValidationRun.finished_at < cutoff)
    ).scalars())


def live_stored_names() -> set[str]:
    """Stored file names that an open run still needs."""
    names = db.session.execute(
        select(ValidationRun.stored_name).where(ValidationRun.status.in_(OPEN_STATUSES))
    ).scalars()
    return {name for name in names if name}


def mark_requeued(run_id: int, message: str) -> bool:
    """An open run goes back to queued: a retry is scheduled, or the sweeper re-enqueues it."""
    return _transition(run_id, OPEN_STATUSES, status=RunStatus.QUEUED,
                       phase=Phase.QUEUED, heartbeat_at=func.now(),
                       error_message=message[:2000])
