"""A batch's status from its runs, and its end decided once, in `runs.finish`'s transaction."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import select, text

from tests.support.locks import Beside, waiting_for_a_lock
from tests.support.runs import make_run
from validateur import batches, runs
from validateur.extensions import db
from validateur.models import Batch, BatchStatus, FailureCategory, RunStatus

QUEUED, PROCESSING = RunStatus.QUEUED, RunStatus.PROCESSING


def _batch_of(*statuses: RunStatus) -> tuple[int, list[int]]:
    batch = batches.create(None, None)
    batch_id = batch.id
    db.session.commit()
    return batch_id, [make_run(status, batch_id=batch_id) for status in statuses]


def _completed() -> runs.Completed:
    return runs.Completed(total_rows=3, counts={"error": 1}, potential_gain=Decimal("1.50"),
                          money_at_risk=Decimal("2.00"))


def _failed() -> runs.Failed:
    return runs.Failed("Échec.", FailureCategory.TECHNICAL)


def _status(batch_id: int) -> BatchStatus:
    db.session.expire_all()
    batch = db.session.get(Batch, batch_id)
    assert batch is not None
    return batches.status_of(batch, batches.summaries([batch_id])[batch_id])


def test_queued_until_a_run_starts_then_processing_then_final(app_ctx: None) -> None:
    batch_id, (first, second) = _batch_of(QUEUED, QUEUED)
    assert _status(batch_id) is BatchStatus.QUEUED
    assert runs.start_attempt(first)
    assert _status(batch_id) is BatchStatus.PROCESSING
    ended = runs.end(first, _completed(), source="test", line="fin")
    assert ended is not None and ended.batch is None  # one run still open
    assert _status(batch_id) is BatchStatus.PROCESSING
    assert runs.start_attempt(second)
    ended = runs.end(second, _completed(), source="test", line="fin")
    assert ended is not None and ended.batch is not None
    assert (ended.batch.id, ended.batch.status) == (batch_id, BatchStatus.COMPLETED)
    assert _status(batch_id) is BatchStatus.COMPLETED
    batch = db.session.get(Batch, batch_id)
    assert batch is not None and batch.finished_at == ended.batch.finished_at
    summary = batches.summaries([batch_id])[batch_id]
    assert (summary.rows, summary.findings["error"], summary.potential_gain,
            summary.money_at_risk) == (6, 2, Decimal("3.00"), Decimal("4.00"))


@pytest.mark.parametrize(("outcomes", "expected"), [
    (["completed", "failed"], BatchStatus.PARTIAL),
    (["completed", "cancelled"], BatchStatus.PARTIAL),
    (["failed", "failed"], BatchStatus.FAILED),
    (["failed", "cancelled"], BatchStatus.CANCELLED),
    (["cancelled", "cancelled"], BatchStatus.CANCELLED),
])
def test_the_final_status_follows_the_runs(app_ctx: None, outcomes: list[str],
                                           expected: BatchStatus) -> None:
    batch_id, run_ids = _batch_of(PROCESSING, PROCESSING)
    made = {"completed": _completed, "failed": _failed, "cancelled": runs.Cancelled}
    for run_id, outcome in zip(run_ids, outcomes, strict=True):
        assert runs.finish(run_id, made[outcome](), source="test", line=outcome)
    assert _status(batch_id) is expected


def test_a_run_outside_any_batch_settles_nothing(app_ctx: None) -> None:
    run_id = make_run(PROCESSING)
    ended = runs.end(run_id, _completed(), source="test", line="fin")
    assert ended is not None and ended.batch is None


def test_a_refused_finish_settles_nothing_and_the_end_is_kept(app_ctx: None) -> None:
    batch_id, (run_id,) = _batch_of(PROCESSING)
    first = runs.end(run_id, _completed(), source="test", line="fin")
    assert first is not None and first.batch is not None
    assert runs.end(run_id, runs.Cancelled(), source="test", line="encore") is None
    assert _status(batch_id) is BatchStatus.COMPLETED
    finished = db.session.execute(select(Batch.finished_at).where(Batch.id == batch_id))
    assert finished.scalar_one() == first.batch.finished_at


def test_two_last_runs_ending_at_the_same_instant_settle_the_batch_once(app: Flask) -> None:
    """Both finishes wait on the batch's runs held `FOR SHARE` (as a job committing its rows
    holds them), then race: each commits its run; exactly one of them settles the batch."""
    with app.app_context():
        batch_id, run_ids = _batch_of(PROCESSING, PROCESSING)
    ended: dict[int, runs.Ended | None] = {}
    lock = threading.Lock()

    def finish(run_id: int) -> None:
        result = runs.end(run_id, _completed(), source="test", line="fin")
        with lock:
            ended[run_id] = result

    threads = [Beside(app, finish, run_id) for run_id in run_ids]
    with app.app_context():
        db.session.execute(text("SELECT 1 FROM validation_runs WHERE batch_id = :b FOR SHARE"),
                           {"b": batch_id})
        for thread in threads:
            thread.start()
        deadline = 100
        while waiting_for_a_lock(app) < 2 and deadline:
            threading.Event().wait(0.05)
            deadline -= 1
        assert waiting_for_a_lock(app) >= 2
        db.session.commit()  # both go at once
    for thread in threads:
        thread.join(10)
        assert thread.error is None
    settled = [e.batch for e in ended.values() if e is not None and e.batch is not None]
    assert len(ended) == 2 and all(e is not None for e in ended.values())
    assert len(settled) == 1 and settled[0].status is BatchStatus.COMPLETED
    with app.app_context():
        assert _status(batch_id) is BatchStatus.COMPLETED


def test_the_second_finish_waits_for_the_first_and_sees_it(app: Flask) -> None:
    """One run's finish holds the batch lock (uncommitted); the other's settle waits for it,
    then sees the first run final and settles: neither misses the end."""
    with app.app_context():
        _batch_id, (first, second) = _batch_of(PROCESSING, PROCESSING)
    result: dict[str, runs.Ended | None] = {}
    with app.app_context():
        assert runs._transition(first, (PROCESSING,), status=RunStatus.COMPLETED)
        assert batches.settle(first) is None  # holds the batch row until the commit
        thread = Beside(app, lambda run_id: result.setdefault(
            "second", runs.end(run_id, _failed(), source="test", line="fin")), second)
        thread.start()
        deadline = 100
        while waiting_for_a_lock(app) < 1 and deadline:
            threading.Event().wait(0.05)
            deadline -= 1
        assert waiting_for_a_lock(app) == 1 and "second" not in result
        db.session.commit()
    thread.join(10)
    assert thread.error is None
    second_end = result["second"]
    assert second_end is not None and second_end.batch is not None
    assert second_end.batch.status is BatchStatus.PARTIAL
