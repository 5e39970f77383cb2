"""A run's life (`validateur.runs`): every status × every transition, and `finish`'s promises.

The table is the contract: which statuses each transition leaves from, where it goes, and
what a refused one leaves (everything as it was). `finish` and `requeue` are also held to
their transaction (one commit with the status and the log line), to the file (deleted
after a winning `finish` only) and to the data a cancel removes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select, text

from tests.support.runs import make_run, stored_file
from validateur import runs, storage
from validateur.extensions import db
from validateur.models import (
    INVOICE_INDEX,
    INVOICE_PAGES_PER_RANGE,
    BillingRecord,
    FailureCategory,
    Phase,
    RunPractice,
    RunStatus,
    ValidationLog,
    ValidationResult,
    ValidationRun,
)

QUEUED, PROCESSING = RunStatus.QUEUED, RunStatus.PROCESSING
COMPLETED, FAILED, CANCELLED = RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED


@dataclass(frozen=True)
class Transition:
    name: str
    apply: Callable[[int], bool]
    allowed: frozenset[RunStatus]
    to: RunStatus
    #: The level of the log line written when it wins (None: it writes none).
    level: str | None = None
    #: A winning `finish`: final, stamped, file deleted.
    final: bool = False
    discards_rows: bool = False


TRANSITIONS = (
    Transition("start_attempt", runs.start_attempt, frozenset({QUEUED, PROCESSING}), PROCESSING),
    Transition("record_progress",
               lambda run_id: runs.record_progress(run_id, Phase.VALIDATING, 80, 10),
               frozenset({PROCESSING}), PROCESSING),
    Transition("requeue",
               lambda run_id: runs.requeue(run_id, "Reprise.", source="test", line="En file"),
               frozenset({QUEUED, PROCESSING}), QUEUED, level="warning"),
    Transition("finish completed",
               lambda run_id: runs.finish(run_id, runs.Completed(
                   total_rows=3, counts={"error": 1, "warning": 2}, potential_gain=Decimal("1"),
                   money_at_risk=Decimal("2")), source="test", line="Terminé"),
               frozenset({PROCESSING}), COMPLETED, level="info", final=True),
    Transition("finish failed",
               lambda run_id: runs.finish(
                   run_id, runs.Failed("Échec.", FailureCategory.TECHNICAL), source="test",
                   line="Échoué"),
               frozenset({QUEUED, PROCESSING}), FAILED, level="error", final=True),
    Transition("finish cancelled",
               lambda run_id: runs.finish(run_id, runs.Cancelled(), source="test",
                                          line="Annulé"),
               frozenset({QUEUED, PROCESSING}), CANCELLED, level="info", final=True,
               discards_rows=True),
)


def _row(run_id: int) -> dict[str, Any]:
    db.session.expire_all()
    run = db.session.get(ValidationRun, run_id)
    assert run is not None
    return {c.key: getattr(run, c.key) for c in ValidationRun.__mapper__.column_attrs}


def _count(model: Any, run_id: int) -> int:
    column = model.validation_run_id
    return int(db.session.execute(
        select(func.count()).select_from(model).where(column == run_id)).scalar_one())


def _with_data(run_id: int) -> None:
    """One billing row and one finding, as a committed attempt leaves them."""
    db.session.add(BillingRecord(validation_run_id=run_id, row_number=1, patient="x",
                                 practice=1))
    db.session.add(RunPractice(validation_run_id=run_id, number=1, doctor_info="1234567",
                               lieu_pratique="50001", secteur_activite="Aucun Secteur"))
    db.session.add(ValidationResult(validation_run_id=run_id, rule="r", scenario="E1",
                                    severity="error", message="m"))
    db.session.commit()


@pytest.fixture()
def a_file(app: Flask, tmp_path: Path) -> Iterator[Callable[[], str]]:
    def _make() -> str:
        source = tmp_path / "export.csv"
        source.write_text("x")
        return stored_file(source)[0]

    with app.app_context():
        yield _make


@pytest.mark.parametrize("transition", TRANSITIONS, ids=[t.name for t in TRANSITIONS])
@pytest.mark.parametrize("status", list(RunStatus), ids=[s.value for s in RunStatus])
def test_every_status_by_every_transition(app_ctx: None, a_file: Callable[[], str],
                                          status: RunStatus, transition: Transition) -> None:
    stored_name = a_file()
    run_id = make_run(status, stored_name=stored_name)
    _with_data(run_id)
    before = _row(run_id)

    won = transition.apply(run_id)

    after = _row(run_id)
    logs = db.session.execute(select(ValidationLog.level).where(
        ValidationLog.validation_run_id == run_id)).scalars().all()
    file_left = storage.path_of(stored_name).exists()
    rows_left = (_count(BillingRecord, run_id), _count(RunPractice, run_id),
                 _count(ValidationResult, run_id))
    if status not in transition.allowed:
        assert not won
        assert after == before, "a refused transition changes nothing"
        assert (logs, file_left, rows_left) == ([], True, (1, 1, 1))
        return
    assert won
    assert after["status"] == transition.to.value
    assert logs == ([transition.level] if transition.level else [])
    assert (after["finished_at"] is not None) is transition.final
    assert (after["stored_name"] is None) is transition.final
    assert file_left is not transition.final
    assert rows_left == ((0, 0, 0) if transition.discards_rows else (1, 1, 1))
    assert after["progress"] >= before["progress"]


def test_the_table_covers_every_transition_of_runs() -> None:
    """A new public transition in `runs` must get its row in TRANSITIONS."""
    public = {"submit", "start_attempt", "record_progress", "requeue", "finish"}
    tested = {t.name.split()[0] for t in TRANSITIONS} | {"submit"}
    assert tested == public
    kinds = {t.name.split()[-1] for t in TRANSITIONS if t.name.startswith("finish")}
    assert kinds == {"completed", "failed", "cancelled"}


def test_completion_stores_the_totals(app_ctx: None) -> None:
    run_id = make_run(PROCESSING)
    assert TRANSITIONS[3].apply(run_id)
    run = _row(run_id)
    assert (run["phase"], run["progress"], run["total_rows"], run["processed_rows"]) == (
        Phase.DONE.value, 100, 3, 3)
    assert (run["error_count"], run["warning_count"], run["optimization_count"]) == (1, 2, 0)
    assert (run["potential_gain"], run["money_at_risk"]) == (Decimal("1"), Decimal("2"))


def test_the_sweeper_giving_up_discards_rows(app_ctx: None) -> None:
    run_id = make_run(PROCESSING)
    _with_data(run_id)
    gave_up = runs.Failed("Abandon.", FailureCategory.INTERRUPTED, discards_rows=True)
    assert runs.finish(run_id, gave_up, source="maintenance", line="Abandon")
    assert (_count(BillingRecord, run_id), _count(RunPractice, run_id),
            _count(ValidationResult, run_id)) == (0, 0, 0)
    assert _row(run_id)["error_category"] == FailureCategory.INTERRUPTED.value


@pytest.fixture()
def commits() -> Iterator[list[int]]:
    """How many commits the session makes (each one a transaction of its own)."""
    made: list[int] = []
    session = db.session()

    def count(_session: Any) -> None:
        made.append(1)

    event.listen(session, "after_commit", count)
    yield made
    event.remove(session, "after_commit", count)


@pytest.mark.parametrize("transition", [t for t in TRANSITIONS if t.level],
                         ids=[t.name for t in TRANSITIONS if t.level])
def test_the_status_and_its_log_line_are_one_transaction(
    app_ctx: None, commits: list[int], transition: Transition
) -> None:
    run_id = make_run(PROCESSING)
    commits.clear()
    assert transition.apply(run_id)
    assert len(commits) == 1


def test_submit_is_one_transaction_with_the_job_id_and_the_first_line(
    app_ctx: None, commits: list[int]
) -> None:
    run = runs.submit(None, "export.csv", "stored", 12, "utf-8", ",", source="web",
                      line="Reçu")
    assert len(commits) == 1
    assert (run.status, run.job_id) == (QUEUED.value, f"validation-{run.id}")
    line = db.session.execute(select(ValidationLog).where(
        ValidationLog.validation_run_id == run.id)).scalar_one()
    assert (line.message, line.metadata_) == (
        "Reçu", {"jobId": f"validation-{run.id}", "bytes": 12, "encoding": "utf-8"})


def test_a_refused_finish_writes_nothing(app_ctx: None, commits: list[int]) -> None:
    run_id = make_run(COMPLETED)
    commits.clear()
    assert not TRANSITIONS[4].apply(run_id)
    assert commits == []


def _wait_for_lock_waiters(app: Flask, count: int) -> None:
    """Until `count` sessions of this database wait for a lock (pg_stat_activity)."""
    deadline = time.monotonic() + 10
    with app.app_context():  # a session of its own, beside the one holding the lock
        while time.monotonic() < deadline:
            waiting = db.session.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'")).scalar_one()
            db.session.commit()
            if waiting >= count:
                return
            time.sleep(0.02)
    raise AssertionError(f"{count} sessions never waited for the lock")


def test_of_two_racing_finishes_exactly_one_wins(app: Flask) -> None:
    """A job committing its rows holds the run row `FOR SHARE`: both finishes wait for it,
    then one makes the run final and the other finds it final."""
    with app.app_context():
        run_id = make_run(PROCESSING)
    results: dict[str, bool] = {}

    def finisher(name: str, outcome: runs.Outcome) -> threading.Thread:
        def go() -> None:
            with app.app_context():
                results[name] = runs.finish(run_id, outcome, source="test", line=name)
                db.session.remove()
        return threading.Thread(target=go, daemon=True)

    threads = [finisher("cancel", runs.Cancelled()),
               finisher("fail", runs.Failed("Échec.", FailureCategory.TECHNICAL))]
    with app.app_context():
        db.session.execute(text("SELECT 1 FROM validation_runs WHERE id = :id FOR SHARE"),
                           {"id": run_id})
        for thread in threads:
            thread.start()
        _wait_for_lock_waiters(app, 2)
        assert results == {}
        db.session.commit()
    for thread in threads:
        thread.join(10)
    assert sorted(results.values()) == [False, True]
    with app.app_context():
        messages = db.session.execute(select(ValidationLog.message).where(
            ValidationLog.validation_run_id == run_id)).scalars().all()
        winner = next(name for name, won in results.items() if won)
        assert messages == [winner]
        assert _row(run_id)["status"] == (CANCELLED if winner == "cancel" else FAILED).value


def test_a_deleted_runs_invoice_ranges_are_forgotten(app_ctx: None) -> None:
    """BRIN summaries only widen: the ranges of a deleted run's rows are desummarized with it
    (`runs._forget_invoice_ranges`), so the next runs' rows reusing them get exact bounds."""
    run_id = make_run(COMPLETED)
    per_range = 40 * INVOICE_PAGES_PER_RANGE  # rows of about 200 bytes: more than a range
    db.session.execute(text(
        "INSERT INTO billing_rows (validation_run_id, row_number, facture, patient)"
        " SELECT :run, n, 'F' || n, repeat('x', 160) FROM generate_series(1, :rows) AS n"),
        {"run": run_id, "rows": 3 * per_range})
    db.session.commit()
    summarize = text("SELECT brin_summarize_new_values(CAST(:index AS regclass))")
    db.session.execute(summarize, {"index": INVOICE_INDEX})  # every filled range summarized
    db.session.commit()
    runs.delete_run(run_id)
    forgotten = db.session.execute(summarize, {"index": INVOICE_INDEX}).scalar_one()
    db.session.commit()
    assert forgotten >= 2, "the run's ranges kept their summaries"
    assert _count(BillingRecord, run_id) == 0
