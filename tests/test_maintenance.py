"""`validateur cleanup` and the sweep: lost jobs, orphan files, retention.

Runs come from the factory (`tests.support.runs`): the sweeper only reads the database and
Redis, so a run in the state to recover is written directly, with a job only when the test
needs one waiting.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy import func, select

from tests.support.runs import make_run, stored_file
from validateur import queue
from validateur.cli import main
from validateur.extensions import db
from validateur.maintenance import run_maintenance
from validateur.models import BillingRecord, ValidationLog, ValidationRun, utcnow
from validateur.queue import get_queue

TEN_MINUTES_AGO = timedelta(minutes=10)


def _status(run_id: int) -> str:
    db.session.expire_all()
    run = db.session.get(ValidationRun, run_id)
    assert run is not None
    return run.status


def _lines(run_id: int) -> list[tuple[str, str]]:
    return [tuple(line) for line in db.session.execute(
        select(ValidationLog.level, ValidationLog.message)
        .where(ValidationLog.validation_run_id == run_id).order_by(ValidationLog.id))]


def _a_file(tmp_path: Path) -> str:
    source = tmp_path / "export.csv"
    source.write_text("x")
    return stored_file(source)[0]


def test_a_run_whose_job_redis_forgot_is_requeued(app_ctx: None) -> None:
    run_id = make_run("queued", created_at=utcnow() - TEN_MINUTES_AGO)  # no job in Redis
    report = run_maintenance()
    assert report.requeued == [run_id]
    assert f"validation-{run_id}" in get_queue().job_ids
    assert _status(run_id) == "queued"
    assert _lines(run_id) == [("warning", "Tâche perdue : remise en file")]


def test_a_waiting_job_is_left_alone(app_ctx: None) -> None:
    run_id = make_run("queued", created_at=utcnow() - TEN_MINUTES_AGO)
    queue.enqueue_validation(run_id)
    assert run_maintenance().requeued == []
    assert _lines(run_id) == []


def test_a_stalled_run_out_of_attempts_fails_and_loses_its_file_and_rows(
    app: Flask, app_ctx: None, tmp_path: Path
) -> None:
    run_id = make_run("processing", stored_name=_a_file(tmp_path), attempts=4,
                      heartbeat_at=utcnow() - timedelta(minutes=5))
    db.session.add(BillingRecord(validation_run_id=run_id, row_number=1, patient="x"))
    db.session.commit()
    assert run_maintenance().failed == [run_id]
    assert _status(run_id) == "failed"
    assert not any(Path(app.config["VALIDATEUR_UPLOAD_DIR"]).iterdir())
    assert _lines(run_id) == [("error", "Abandon après plusieurs interruptions")]
    rows = db.session.execute(select(func.count()).select_from(BillingRecord)).scalar_one()
    assert rows == 0


def test_orphan_files_older_than_an_hour_are_removed(app: Flask, tmp_path: Path) -> None:
    upload_dir = Path(app.config["VALIDATEUR_UPLOAD_DIR"])
    with app.app_context():
        live = upload_dir / _a_file(tmp_path)
        make_run("queued", stored_name=live.name)
    old_orphan = upload_dir / "0123456789abcdef0123456789abcdef.csv"
    old_orphan.write_text("x")
    young_orphan = upload_dir / "upload-young.part"
    young_orphan.write_text("x")
    hours_ago = time.time() - 7200
    os.utime(old_orphan, (hours_ago, hours_ago))
    os.utime(live, (hours_ago, hours_ago))
    result = CliRunner().invoke(main, ["cleanup"], obj=ScriptInfo(create_app=lambda: app))
    assert result.exit_code == 0 and "fichiers orphelins supprimés : 1" in result.output
    assert live.exists() and young_orphan.exists() and not old_orphan.exists()


def test_finished_runs_past_retention_are_purged_with_their_rows(
    app: Flask, app_ctx: None
) -> None:
    days = app.config["VALIDATEUR_RETENTION_DAYS"]
    old = make_run("completed", finished_at=utcnow() - timedelta(days=days + 1))
    recent = make_run("completed", finished_at=utcnow() - timedelta(days=days - 1))
    db.session.add(BillingRecord(validation_run_id=old, row_number=1, patient="x"))
    db.session.commit()
    assert run_maintenance().purged_runs == 1
    assert db.session.get(ValidationRun, old) is None
    assert db.session.get(ValidationRun, recent) is not None
    rows = db.session.execute(select(func.count()).select_from(BillingRecord)).scalar_one()
    assert rows == 0
