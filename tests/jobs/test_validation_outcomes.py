"""The validation job ends every run through `runs.finish`: its last log line says how.

The job function runs here, in the test process (no worker, no Redis job), on runs from the
factory: a good file completes with « Traitement terminé » last; a file the reader refuses
or a file gone fails with the failure's line last, never « Traitement terminé »; a run
already final is left as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from jobs import context
from jobs.validation import validate_run
from tests.support.csvfiles import act, billing_csv
from tests.support.runs import make_run, stored_file
from validateur import storage
from validateur.extensions import db
from validateur.models import ValidationLog, ValidationRun


@pytest.fixture()
def job_app(app: Flask) -> Iterator[Flask]:
    """The job's `job_context()` uses the test app (as a worker's preloaded one)."""
    preloaded = (context._app, context._app_pid)
    context.preload(app)
    yield app
    context._app, context._app_pid = preloaded


def _run_with(app: Flask, tmp_path: Path, content: bytes | None, status: str = "queued"
              ) -> tuple[int, str]:
    source = tmp_path / "export.csv"
    source.write_bytes(content or b"")
    with app.app_context():
        stored_name = stored_file(source)[0]
        if content is None:
            storage.delete(stored_name)  # the file is gone before the job starts
        return make_run(status, stored_name=stored_name), stored_name


def _end(app: Flask, run_id: int) -> tuple[str, list[tuple[str, str]]]:
    with app.app_context():
        run = db.session.get(ValidationRun, run_id)
        assert run is not None
        lines = db.session.execute(
            select(ValidationLog.level, ValidationLog.message)
            .where(ValidationLog.validation_run_id == run_id).order_by(ValidationLog.id)).all()
        return run.status, [(level, message) for level, message in lines]


def test_a_good_file_completes_with_its_last_line_saying_so(job_app: Flask,
                                                            tmp_path: Path) -> None:
    run_id, stored_name = _run_with(job_app, tmp_path, billing_csv([act(1), act(2)]))
    validate_run(run_id)
    status, lines = _end(job_app, run_id)
    assert status == "completed"
    assert [message for _level, message in lines] == [
        "Traitement démarré", "Lignes et constats enregistrés", "Traitement terminé"]
    with job_app.app_context():
        assert not storage.path_of(stored_name).exists()


@pytest.mark.parametrize("content", [b"a,b\r\n1,2\r\n", None], ids=["refused", "gone"])
def test_a_failed_run_never_says_traitement_termine(job_app: Flask, tmp_path: Path,
                                                    content: bytes | None) -> None:
    run_id, stored_name = _run_with(job_app, tmp_path, content)
    validate_run(run_id)
    status, lines = _end(job_app, run_id)
    assert status == "failed"
    assert lines == [("info", "Traitement démarré"), ("error", "Fichier inutilisable")]
    with job_app.app_context():
        assert not storage.path_of(stored_name).exists()


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_a_final_run_is_left_alone(job_app: Flask, tmp_path: Path, status: str) -> None:
    run_id, _stored_name = _run_with(job_app, tmp_path, billing_csv([act(1)]), status)
    validate_run(run_id)
    assert _end(job_app, run_id) == (status, [])
