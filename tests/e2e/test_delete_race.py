"""A delete or cancel of a run while its job is about to commit never leaves rows behind.

`billing_records` has no foreign key (COPY speed), so rows committed for a run deleted a moment
earlier would stay forever. The job's own code (`_process`: reader → COPY → rules → findings →
commit) runs on real PostgreSQL; at its last progress write, right before its commit, the
user's delete (or cancel) starts on another connection. Two orders are covered: the delete
finishes before the job's commit (no findings hold the run row), or it has to wait for it
(findings, whose foreign key locks the run row, are written).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text

from jobs.progress import ProgressReporter, RunCancelled
from jobs.validation import _process
from tests.support.csvfiles import act, billing_csv
from tests.support.locks import Beside, waiting_for_a_lock
from tests.support.runs import make_run, stored_file
from tests.workers import wait_for
from validateur import lifecycle
from validateur.extensions import db
from validateur.models import Phase, ValidationRun

pytestmark = pytest.mark.e2e


class _ActsAtSaving(ProgressReporter):
    """The job's progress reporter; at the saving phase (the last write before the commit)
    it starts `action` beside the job and lets the job go on once that action is done or
    waits for a lock."""

    def __init__(self, app: Flask, run_id: int, action: Callable[[int], object]) -> None:
        super().__init__(run_id, None)
        self.beside = Beside(app, action, run_id)
        self._app = app

    def report(self, phase: Phase, progress: int, rows: int) -> None:
        super().report(phase, progress, rows)
        if phase is Phase.SAVING and not self.beside.is_alive() and self.beside.ident is None:
            self.beside.start()
            wait_for(lambda: not self.beside.is_alive() or waiting_for_a_lock(self._app) > 0,
                     timeout=10, interval=0.02)


def _delete(run_id: int) -> None:
    with db.session.no_autoflush:
        run = db.session.get(ValidationRun, run_id)
        assert run is not None
        lifecycle.delete_run(run)


def _cancel(run_id: int) -> None:
    run = db.session.get(ValidationRun, run_id)
    assert run is not None
    assert lifecycle.cancel_run(run)


@pytest.fixture()
def rules(app: Flask, request: pytest.FixtureRequest) -> Iterator[None]:
    before = app.config["VALIDATEUR_RULES"]
    app.config["VALIDATEUR_RULES"] = request.param
    yield
    app.config["VALIDATEUR_RULES"] = before


def _start(app: Flask, tmp_path: Path, content: bytes) -> tuple[int, str]:
    source = tmp_path / "export.csv"
    source.write_bytes(content)
    with app.app_context():
        stored_name, size = stored_file(source)
        run_id = make_run("processing", stored_name=stored_name, file_size=size)
    return run_id, stored_name


CLEAN = billing_csv([act(n) for n in range(1, 1201)])
#: Two rows of one claim and code: a finding, so the job's insert locks the run row.
WITH_FINDINGS = billing_csv([act(n, **{"ID RAMQ": "30000000001"}) for n in range(1, 1201)])


@pytest.mark.parametrize(("rules", "content"), [
    (["structure"], CLEAN), (None, WITH_FINDINGS),
], indirect=["rules"], ids=["delete first", "delete waits for the commit"])  # fmt: skip
@pytest.mark.parametrize("action", [_delete, _cancel], ids=["delete", "cancel"])
def test_a_delete_or_cancel_at_the_commit_leaves_no_rows(
    app: Flask, tmp_path: Path, rules: None, content: bytes, action: Callable[[int], None]
) -> None:
    run_id, stored_name = _start(app, tmp_path, content)
    reporter = _ActsAtSaving(app, run_id, action)
    with app.app_context():
        with pytest.raises(RunCancelled):
            _process(run_id, stored_name, reporter)
        db.session.remove()
    reporter.beside.join(10)
    assert reporter.beside.ident is not None and not reporter.beside.is_alive()
    assert reporter.beside.error is None
    with app.app_context():
        left = db.session.execute(text(
            "SELECT (SELECT count(*) FROM billing_records WHERE validation_run_id = :id), "
            "(SELECT count(*) FROM validation_results WHERE validation_run_id = :id), "
            "(SELECT status FROM validation_runs WHERE id = :id)"), {"id": run_id}).one()
    assert tuple(left) == (0, 0, None if action is _delete else "cancelled")
