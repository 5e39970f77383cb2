"""Batches: several files submitted together, each an ordinary run with `batch_id`.

A batch's status is read from its runs while they are open (`queued` until one of them has
started, then `processing`), so starting a run writes nothing here. Its end is decided once,
in PostgreSQL, by `settle`, which `runs.finish` calls inside the transaction that makes a run
final: RQ groups carry no aggregate status and a callback may run twice or never, so the
database transition is the only place where "this batch's last run has just ended" is true
exactly once.

Exactly once, even when two runs of a batch finish at the same instant: `settle` first locks
the batch row (`FOR NO KEY UPDATE`, which does not block the inserts of runs referring to
it), then counts the batch's open runs in a new statement. Under READ COMMITTED that
statement sees every run transaction committed before the lock was granted, so of two
racing finishes the first to get the lock still sees the other run open and settles nothing,
and the second, once the first has committed, sees no open run and settles. The update is
guarded (`finished_at IS NULL`) as well. The lock order is always run row, then batch row
(`finish` locks the run first), so two finishes cannot deadlock.

The runs of a batch are inserted in the same transaction as the batch (`uploads`), so no
run of it can end before all of them exist: a batch is never settled half-submitted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, delete, exists, func, select, update

from validateur import organizations
from validateur.extensions import db
from validateur.models import Batch, BatchStatus, RunStatus, ValidationRun
from validateur.validation.findings import Severity

ZERO = Decimal("0")


@dataclass(frozen=True)
class Settled:
    """A batch that has just become final (what its `batch.completed` notification says)."""

    id: int
    status: BatchStatus
    organization_id: int | None
    user_id: int | None
    finished_at: datetime


@dataclass
class Summary:
    """What a batch's page and JSON show: counts of its runs per status, and their totals."""

    counts: dict[RunStatus, int] = field(default_factory=lambda: dict.fromkeys(RunStatus, 0))
    started: int = 0
    rows: int = 0
    findings: dict[Severity, int] = field(
        default_factory=lambda: dict.fromkeys(Severity, 0))
    potential_gain: Decimal = ZERO
    money_at_risk: Decimal = ZERO

    @property
    def file_count(self) -> int:
        return sum(self.counts.values())

    @property
    def open_count(self) -> int:
        return self.counts[RunStatus.QUEUED] + self.counts[RunStatus.PROCESSING]


# -- creation -------------------------------------------------------------------------------

def create(user_id: int | None, organization_id: int | None) -> Batch:
    """Insert a batch (flushed, not committed: its runs are committed with it)."""
    batch = Batch(user_id=user_id, organization_id=organization_id)
    db.session.add(batch)
    db.session.flush()
    return batch


def delete_empty(batch_ids: Iterable[int] | None = None) -> int:
    """Remove the batches (of `batch_ids`, or all) that no run refers to any more, committed;
    how many. A batch's runs go first (deleted one by one, or purged past retention): a batch
    with none left has nothing to show, so it goes too instead of lingering as an empty line.
    A batch being submitted is never empty here (its runs are committed with it)."""
    statement = delete(Batch).where(~exists().where(ValidationRun.batch_id == Batch.id))
    if batch_ids is not None:
        wanted = list(batch_ids)
        if not wanted:
            return 0
        statement = statement.where(Batch.id.in_(wanted))
    result = db.session.execute(statement)
    db.session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]


# -- the end, exactly once -------------------------------------------------------------------

def final_status(counts: dict[RunStatus, int]) -> BatchStatus:
    """The status of a batch whose runs are all final.

    All completed: `completed`; some completed: `partial`; none completed: `cancelled` when
    any was cancelled (the batch was stopped before anything completed), else `failed`.
    """
    total = sum(counts.values())
    completed = counts.get(RunStatus.COMPLETED, 0)
    if total and completed == total:
        return BatchStatus.COMPLETED
    if completed:
        return BatchStatus.PARTIAL
    if counts.get(RunStatus.CANCELLED, 0):
        return BatchStatus.CANCELLED
    return BatchStatus.FAILED


def settle(run_id: int) -> Settled | None:
    """In `runs.finish`'s transaction, after the run became final: if it was the last open
    run of its batch, write the batch's final status and `finished_at` and return the batch;
    otherwise (no batch, runs still open, already settled) None. Never commits."""
    batch_id = db.session.execute(
        select(ValidationRun.batch_id).where(ValidationRun.id == run_id)).scalar_one_or_none()
    if batch_id is None:
        return None
    batch = db.session.execute(
        select(Batch.id, Batch.organization_id, Batch.user_id)
        .where(Batch.id == batch_id, Batch.finished_at.is_(None))
        .with_for_update(key_share=True)  # FOR NO KEY UPDATE
    ).one_or_none()
    if batch is None:
        return None
    counts = _status_counts(batch_id)  # a new statement: sees what committed before the lock
    if counts[RunStatus.QUEUED] or counts[RunStatus.PROCESSING]:
        return None
    status = final_status(counts)
    finished_at: datetime = db.session.execute(
        update(Batch).where(Batch.id == batch_id, Batch.finished_at.is_(None))
        .values(final_status=status, finished_at=func.now())
        .returning(func.now())  # the statement's now(): the value just written
    ).scalar_one()
    return Settled(batch_id, status, batch.organization_id, batch.user_id, finished_at)


def _status_counts(batch_id: int) -> dict[RunStatus, int]:
    counts = dict.fromkeys(RunStatus, 0)
    rows = db.session.execute(
        select(ValidationRun.status, func.count()).where(ValidationRun.batch_id == batch_id)
        .group_by(ValidationRun.status)).all()
    for status, count in rows:
        counts[RunStatus(status)] = int(count)
    return counts


# -- reads ----------------------------------------------------------------------------------

def status_of(batch: Batch, summary: Summary) -> BatchStatus:
    """The stored final status, else `queued` until a run has started, then `processing`."""
    if batch.final_status is not None:
        return BatchStatus(batch.final_status)
    return BatchStatus.PROCESSING if summary.started else BatchStatus.QUEUED


def visible(user: Any) -> Select[Any]:
    """The batches `user` may see (the runs' rule: `organizations.visible_to`), newest first."""
    return (select(Batch).where(organizations.visible_to(user, Batch.organization_id))
            .order_by(Batch.created_at.desc(), Batch.id.desc()))


def find_visible(user: Any, batch_id: int) -> Batch | None:
    found: Batch | None = db.session.execute(
        select(Batch).where(Batch.id == batch_id,
                            organizations.visible_to(user, Batch.organization_id))
    ).scalar_one_or_none()
    return found


def runs_of(batch_id: int) -> list[ValidationRun]:
    """A batch's runs in the order its files were submitted."""
    return list(db.session.execute(
        select(ValidationRun).where(ValidationRun.batch_id == batch_id)
        .order_by(ValidationRun.id)).scalars())


def runs_by_batch(batch_ids: Iterable[int]) -> dict[int, list[ValidationRun]]:
    """Several batches' runs in one query (a page of the batch list), each in submission order."""
    wanted = list(batch_ids)
    grouped: dict[int, list[ValidationRun]] = {batch_id: [] for batch_id in wanted}
    if wanted:
        for run in db.session.execute(
                select(ValidationRun).where(ValidationRun.batch_id.in_(wanted))
                .order_by(ValidationRun.id)).scalars():
            if run.batch_id is not None:
                grouped[run.batch_id].append(run)
    return grouped


def open_runs(batch_id: int) -> list[ValidationRun]:
    return [run for run in runs_of(batch_id) if not run.run_status.is_final]


def summaries(batch_ids: Iterable[int]) -> dict[int, Summary]:
    """Counts and totals of several batches' runs, in one grouped query."""
    wanted = list(batch_ids)
    result = {batch_id: Summary() for batch_id in wanted}
    if not wanted:
        return result
    rows_done = func.coalesce(func.nullif(ValidationRun.total_rows, 0),
                              ValidationRun.processed_rows)
    query = (
        select(ValidationRun.batch_id, ValidationRun.status, func.count(),
               func.count(ValidationRun.started_at), func.coalesce(func.sum(rows_done), 0),
               *(func.coalesce(func.sum(getattr(ValidationRun, f"{s}_count")), 0)
                 for s in Severity),
               func.coalesce(func.sum(ValidationRun.potential_gain), 0),
               func.coalesce(func.sum(ValidationRun.money_at_risk), 0))
        .where(ValidationRun.batch_id.in_(wanted))
        .group_by(ValidationRun.batch_id, ValidationRun.status)
    )
    for batch_id, status, count, started, rows, *rest in db.session.execute(query).all():
        _add(result[batch_id], RunStatus(status), int(count), int(started), int(rows), rest)
    return result


def _add(summary: Summary, status: RunStatus, count: int, started: int, rows: int,
         rest: list[Any]) -> None:
    *severities, gain, risk = rest
    summary.counts[status] += count
    summary.started += started
    summary.rows += rows
    for severity, value in zip(Severity, severities, strict=True):
        summary.findings[severity] += int(value)
    summary.potential_gain += Decimal(gain)
    summary.money_at_risk += Decimal(risk)
