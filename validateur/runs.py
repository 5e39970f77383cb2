"""A run's life: the only code that changes a run's status, with the log line that says so.

Statuses only move forward (queued → processing → completed | failed | cancelled; a retry
or a hand-back puts an open run back to queued), `progress` never goes back, and every final
state stamps `finished_at` and owns no file. Guards are written in SQL (`WHERE status IN …`)
so two processes racing on the same run (a worker and a cancel, a retry and the sweeper)
cannot both win.

The whole life, in the order a run lives it:

- `submit`: the run, its job id and its first log line, in one transaction (the upload
  enqueues only after it committed: the worker must find the run);
- `start_attempt`, `record_progress`: the job's own writes;
- `requeue`: an open run goes back to queued (a retry, a deploy's hand-back, the sweeper),
  with its log line, in one transaction;
- `finish(run_id, outcome, …)` (`end`, which says what it did): the only way to a final
  status. The guarded update, the data
  deletion the outcome needs and the log line commit together; the stored file is deleted
  after the commit. Every place that ends a run calls it: the job (`jobs.validation`), the
  failure callback (`jobs.callbacks`), the sweeper (`maintenance`), a cancel (`lifecycle`).

`_transition` never commits: each public function above owns its transaction. Every change
it makes (and `delete_run`) also sends `NOTIFY validateur_run_changed, '<run id>'` in that
transaction, so whoever shows a run live hears of it at the commit (docs/architecture.md
§ Progress).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select, text, update

from validateur import batches, notifications, runlog, storage
from validateur.extensions import db
from validateur.models import (
    INVOICE_INDEX,
    INVOICE_PAGES_PER_RANGE,
    BillingRecord,
    FailureCategory,
    Organization,
    Phase,
    Plan,
    RunPractice,
    RunStatus,
    User,
    ValidationResult,
    ValidationRun,
    count_values,
    utcnow,
)
from validateur.queue import job_id_for, queue_for_plan

log = logging.getLogger(__name__)

OPEN_STATUSES = (RunStatus.QUEUED, RunStatus.PROCESSING)
#: The PostgreSQL channel told "this run changed" (payload: the run id, nothing else), from
#: inside the transaction that changed it, so it is heard exactly when that commits and never
#: for a rollback. The run page's stream (`validateur.web.events`) listens to it.
CHANGED_CHANNEL = "validateur_run_changed"


# -- outcomes: what `finish` is told ------------------------------------------------------

@dataclass(frozen=True)
class Completed:
    """Every row stored and every rule run: only a processing run completes."""

    total_rows: int
    counts: Mapping[str, int]
    potential_gain: Decimal
    money_at_risk: Decimal

    allowed = (RunStatus.PROCESSING,)
    level = "info"
    discards_rows = False

    def values(self) -> dict[str, Any]:
        return {
            "status": RunStatus.COMPLETED, "phase": Phase.DONE, "progress": 100,
            "total_rows": self.total_rows, "processed_rows": self.total_rows,
            **count_values(self.counts),
            "potential_gain": self.potential_gain, "money_at_risk": self.money_at_risk,
        }


@dataclass(frozen=True)
class Failed:
    """An open run fails with a French message (no cell values in it) and its category.

    `discards_rows`: the sweeper gives up on a run whose lost work-horse may have committed
    its rows before dying; a job failing on its own has rolled its rows back already.
    """

    message: str
    category: FailureCategory
    discards_rows: bool = False

    allowed = OPEN_STATUSES
    level = "error"

    def values(self) -> dict[str, Any]:
        return {"status": RunStatus.FAILED, "error_message": self.message[:2000],
                "error_category": self.category}


@dataclass(frozen=True)
class Cancelled:
    """A user cancelled an open run: its rows and findings go with the status change.

    The worker sees the status at its next cooperative check (or right before its commit,
    `records.RunWriter.still_processing`) and rolls its own transaction back.
    """

    allowed = OPEN_STATUSES
    level = "info"
    discards_rows = True

    def values(self) -> dict[str, Any]:
        return {"status": RunStatus.CANCELLED, "cancel_requested": True}


Outcome = Completed | Failed | Cancelled


# -- the life ---------------------------------------------------------------------------

def submit(user_id: int | None, file_name: str, stored_name: str, file_size: int,
           encoding: str, delimiter: str, *, source: str, line: str) -> ValidationRun:
    """Insert a queued run, its job id and its first log line (`line`, with the job id, the
    size and the encoding), and commit them together.

    The run is returned detached with its attributes as written (no SELECT to reload them):
    the caller reads id, status and job id. The log line is echoed to the process log by the
    caller once it is true (`runlog.echo`, after the enqueue).
    """
    run = add_queued(user_id, file_name, stored_name, file_size, encoding, delimiter,
                     source=source, line=line)
    db.session.commit()
    return run


def organization_of(user_id: int | None) -> int | None:
    """The organization a new run of `user_id` belongs to (None for an admin or nobody)."""
    # The uploader is the request's user, already in the session: usually no query.
    uploader = db.session.get(User, user_id) if user_id is not None else None
    return uploader.organization_id if uploader is not None else None


def add_queued(user_id: int | None, file_name: str, stored_name: str, file_size: int,
               encoding: str, delimiter: str, *, source: str, line: str,
               batch_id: int | None = None, organization_id: int | None = None
               ) -> ValidationRun:
    """`submit` without the commit: a batch commits its runs together with itself.

    The run belongs to the uploader's organization as it is now (a later move of the
    uploader leaves the run where it was); an admin's or an ownerless run to none. A batch
    passes the organization it already read (`organization_id`), one query for all its runs.
    Its queue is chosen from that organization's plan now, and kept for every attempt.
    """
    if organization_id is None:
        organization_id = organization_of(user_id)
    # Loaded with the uploader (or by the batch) already: the identity map answers.
    organization = (db.session.get(Organization, organization_id)
                    if organization_id is not None else None)
    run = ValidationRun(
        user_id=user_id,
        organization_id=organization_id,
        queue=queue_for_plan(organization.plan if organization is not None and organization.plan
                             else Plan.STANDARD),
        batch_id=batch_id,
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
    runlog.add(run.id, "info", source, line, jobId=run.job_id, bytes=file_size,
               encoding=encoding)
    db.session.flush()
    # Detached before the commit, which would expire it and cost a SELECT on next read.
    db.session.expunge(run)
    return run


def _transition(run_id: int, allowed: tuple[str, ...], **values: object) -> bool:
    """The guarded update, in the caller's transaction (never committed here), and the
    notice that the run changed when it did (`CHANGED_CHANNEL`)."""
    result = db.session.execute(
        update(ValidationRun)
        .where(ValidationRun.id == run_id, ValidationRun.status.in_(allowed))
        .values(**values)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    _notify_changed(run_id)
    return True


def _notify_changed(run_id: int) -> None:
    """`NOTIFY` in the caller's transaction: delivered at its commit, dropped by a rollback."""
    db.session.execute(text("SELECT pg_notify(:channel, :run_id)"),
                       {"channel": CHANGED_CHANNEL, "run_id": str(run_id)})


def start_attempt(run_id: int) -> bool:
    """queued/processing → processing for a new attempt; False if the run is final."""
    started = _transition(
        run_id,
        OPEN_STATUSES,
        status=RunStatus.PROCESSING,
        phase=Phase.PARSING,
        attempts=ValidationRun.attempts + 1,
        started_at=func.coalesce(ValidationRun.started_at, func.now()),
        heartbeat_at=func.now(),
        error_message=None,
    )
    db.session.commit()
    return started


def record_progress(run_id: int, phase: Phase, progress: int, processed_rows: int) -> bool:
    """Store phase and progress (monotonic) and beat the heartbeat; False once not processing."""
    # This commit need not wait for its WAL to reach the disk: while a COPY is writing the
    # run's rows, that wait covers the COPY's WAL written so far too. A crash may lose this
    # write; the next one repeats it.
    db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    recorded = _transition(
        run_id,
        (RunStatus.PROCESSING,),
        phase=phase,
        progress=func.greatest(ValidationRun.progress, progress),
        processed_rows=processed_rows,
        heartbeat_at=func.now(),
    )
    db.session.commit()
    return recorded


def requeue(run_id: int, message: str, *, source: str, line: str, **metadata: Any) -> bool:
    """An open run goes back to queued (a retry is scheduled, a deploy handed its job back,
    the sweeper re-enqueues it), with its warning log line, in one transaction.

    `message` is shown on the run's page until the next attempt starts; `line` is the log's.
    False (and nothing written) when the run is final or gone.
    """
    requeued = _transition(run_id, OPEN_STATUSES, status=RunStatus.QUEUED,
                           phase=Phase.QUEUED, heartbeat_at=func.now(),
                           error_message=message[:2000])
    if not requeued:
        db.session.rollback()
        return False
    runlog.add(run_id, "warning", source, line, **metadata)
    db.session.commit()
    runlog.echo(run_id, "warning", source, line)
    return True


@dataclass(frozen=True)
class Ended:
    """What one `end` did: the run it made final and, if that run was the last open one of
    its batch, the batch it settled (`batches.settle`), for its `batch.completed`."""

    run_id: int
    outcome: Outcome
    batch: batches.Settled | None


def finish(run_id: int, outcome: Outcome, *, source: str, line: str, **metadata: Any) -> bool:
    """Make an open run final: True only when this call did it (`end` says more)."""
    return end(run_id, outcome, source=source, line=line, **metadata) is not None


def end(run_id: int, outcome: Outcome, *, source: str, line: str,
        **metadata: Any) -> Ended | None:
    """Make an open run final: what it did, or None when the run was not open.

    One transaction holds the guarded status update (`outcome.allowed`: never from a final
    status), the deletion of the run's rows and findings when the outcome discards them (a
    cancel; the sweeper giving up) and the run's log line. Its level follows the outcome
    (error for a failure, info otherwise), so the last line of a run always says how it
    ended. The stored upload is deleted after the commit: a final run owns no file, and a
    crash in between leaves an orphan that `maintenance` removes, never a run whose file is
    gone while it could still need it.

    The same transaction settles the run's batch when this was its last open run
    (`batches.settle`: its final status and `finished_at`, exactly once), and writes the
    outbox rows (`notifications`: the run's end to its organization's webhooks and, for a
    run outside a batch, its owner's e-mail; `batch.completed` and the batch's one e-mail
    when `settled` is not None), so that a run or a batch is never final without them nor
    they sent for one that is not. Their delivery jobs are enqueued after the commit.

    Deleting the rows here waits for a job that is committing this run's rows: the update
    takes the row lock that job holds `FOR SHARE` until its commit, and the delete then sees
    (and removes) what it committed; a job not there yet sees the final status at its check
    and rolls back.
    """
    stored_name = _locked_stored_name(run_id)
    if not _transition(run_id, outcome.allowed, finished_at=func.now(), stored_name=None,
                       **outcome.values()):
        db.session.rollback()
        return None
    if outcome.discards_rows:
        _delete_rows_and_findings(run_id)
    runlog.add(run_id, outcome.level, source, line, **metadata)
    settled = batches.settle(run_id)
    outbox = notifications.record_run_end(run_id)
    if settled is not None:
        outbox += notifications.record_batch_end(settled)
    db.session.commit()
    runlog.echo(run_id, outcome.level, source, line)
    _delete_file(run_id, stored_name)
    notifications.dispatch(outbox)
    return Ended(run_id, outcome, settled)


def _locked_stored_name(run_id: int) -> str | None:
    """The run's stored file, read under the row lock the guarded update takes anyway."""
    name: str | None = db.session.execute(
        select(ValidationRun.stored_name).where(ValidationRun.id == run_id)
        .with_for_update(key_share=True)
    ).scalar_one_or_none()
    return name


def _delete_file(run_id: int, stored_name: str | None) -> None:
    """After the commit: a failure to delete leaves an orphan for the sweeper, not an error."""
    try:
        storage.delete(stored_name)
    except OSError as exc:
        log.warning("run %s: stored file not deleted (%s); the sweeper will", run_id,
                    type(exc).__name__)


def delete_run(run_id: int) -> None:
    """Remove a run and everything it owns (rows, findings, logs via cascade), at once.

    The run row is locked `FOR UPDATE` before anything is deleted, so a job committing its
    rows (which holds the row `FOR SHARE` until its commit) is waited for, and its rows go
    with the run: `billing_rows` has no foreign key that would otherwise catch them.
    """
    db.session.execute(text("SELECT 1 FROM validation_runs WHERE id = :id FOR UPDATE"),
                       {"id": run_id})
    _delete_rows_and_findings(run_id)
    db.session.execute(delete(ValidationRun).where(ValidationRun.id == run_id))
    _notify_changed(run_id)
    db.session.commit()


def _delete_rows_and_findings(run_id: int) -> None:
    _forget_invoice_ranges(run_id)
    db.session.execute(delete(BillingRecord).where(BillingRecord.validation_run_id == run_id))
    db.session.execute(delete(RunPractice).where(RunPractice.validation_run_id == run_id))
    db.session.execute(
        delete(ValidationResult).where(ValidationResult.validation_run_id == run_id)
    )


def _forget_invoice_ranges(run_id: int) -> None:
    """Desummarize the BRIN block ranges that hold the run's rows, before they are deleted.

    A BRIN summary only ever widens: left in place, the bounds of a deleted run would stay in
    the ranges the next runs' rows reuse, and each invoice search would read more of the
    table. Unsummarized, the ranges are summarized again from what they hold by the VACUUM
    that the deletion brings (or as they fill: `autosummarize`).
    """
    db.session.execute(text(
        "SELECT brin_desummarize_range(CAST(:index AS regclass), block) FROM ("
        " SELECT DISTINCT (ctid::text::point)[0]::bigint / :pages * :pages AS block"
        " FROM billing_rows WHERE validation_run_id = :run) AS ranges"),
        {"index": INVOICE_INDEX, "pages": INVOICE_PAGES_PER_RANGE, "run": run_id})


# -- reads ------------------------------------------------------------------------------

def is_open(run: ValidationRun) -> bool:
    return run.status in OPEN_STATUSES


def status_of(run_id: int) -> str | None:
    status: str | None = db.session.execute(
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
