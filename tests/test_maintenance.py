"""`validateur cleanup` and the sweep: lost jobs, orphan files, retention."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from rq.job import Job
from sqlalchemy import func, select, update

from tests.support.api import Person, upload_csv
from tests.support.cli import invoke
from tests.support.csvfiles import act, billing_csv
from validateur.extensions import db
from validateur.maintenance import run_maintenance
from validateur.models import BillingRecord, ValidationRun, utcnow
from validateur.queue import get_queue, redis_manager


def _age_run(app: Flask, run_id: int, **values: object) -> None:
    with app.app_context():
        db.session.execute(update(ValidationRun).where(ValidationRun.id == run_id).values(**values))
        db.session.commit()


def _status(app: Flask, run_id: int) -> str:
    with app.app_context():
        db.session.expire_all()
        run = db.session.get(ValidationRun, run_id)
        assert run is not None
        return run.status


def test_a_run_whose_job_redis_forgot_is_requeued(app: Flask, client: FlaskClient,
                                                 editor: Person) -> None:
    run_id = upload_csv(client, editor, billing_csv([act(1)])).get_json()["validationId"]
    with app.app_context():
        Job.fetch(f"validation-{run_id}", connection=redis_manager().client).delete()
        assert f"validation-{run_id}" not in get_queue().job_ids
    _age_run(app, run_id, created_at=utcnow() - timedelta(minutes=10))
    with app.app_context():
        report = run_maintenance()
        assert report.requeued == [run_id]
        assert f"validation-{run_id}" in get_queue().job_ids
    assert _status(app, run_id) == "queued"


def test_a_waiting_job_is_left_alone(app: Flask, client: FlaskClient, editor: Person) -> None:
    run_id = upload_csv(client, editor, billing_csv([act(1)])).get_json()["validationId"]
    _age_run(app, run_id, created_at=utcnow() - timedelta(minutes=10))
    with app.app_context():
        assert run_maintenance().requeued == []


def test_a_stalled_run_out_of_attempts_fails_and_loses_its_file(
    app: Flask, client: FlaskClient, editor: Person
) -> None:
    run_id = upload_csv(client, editor, billing_csv([act(1)])).get_json()["validationId"]
    with app.app_context():
        Job.fetch(f"validation-{run_id}", connection=redis_manager().client).delete()
    _age_run(app, run_id, status="processing", attempts=4,
              heartbeat_at=utcnow() - timedelta(minutes=5))
    with app.app_context():
        assert run_maintenance().failed == [run_id]
    assert _status(app, run_id) == "failed"
    assert not any(Path(app.config["VALIDATEUR_UPLOAD_DIR"]).iterdir())


def test_orphan_files_older_than_an_hour_are_removed(app: Flask, client: FlaskClient,
                                                    editor: Person) -> None:
    upload_dir = Path(app.config["VALIDATEUR_UPLOAD_DIR"])
    upload_csv(client, editor, billing_csv([act(1)]))
    live = next(upload_dir.iterdir())
    old_orphan = upload_dir / "0123456789abcdef0123456789abcdef.csv"
    old_orphan.write_text("x")
    young_orphan = upload_dir / "upload-young.part"
    young_orphan.write_text("x")
    hours_ago = time.time() - 7200
    os.utime(old_orphan, (hours_ago, hours_ago))
    os.utime(live, (hours_ago, hours_ago))
    result = invoke(app, "cleanup")
    assert result.exit_code == 0 and "fichiers orphelins supprimés : 1" in result.output
    assert live.exists() and young_orphan.exists() and not old_orphan.exists()


def test_finished_runs_past_retention_are_purged_with_their_rows(
    app: Flask, client: FlaskClient, editor: Person
) -> None:
    old = upload_csv(client, editor, billing_csv([act(1)])).get_json()["validationId"]
    recent = upload_csv(client, editor, billing_csv([act(1)])).get_json()["validationId"]
    days = app.config["VALIDATEUR_RETENTION_DAYS"]
    _age_run(app, old, status="completed", finished_at=utcnow() - timedelta(days=days + 1))
    _age_run(app, recent, status="completed", finished_at=utcnow() - timedelta(days=days - 1))
    with app.app_context():
        db.session.add(BillingRecord(validation_run_id=old, row_number=1, patient="x"))
        db.session.commit()
        assert run_maintenance().purged_runs == 1
        assert db.session.get(ValidationRun, old) is None
        assert db.session.get(ValidationRun, recent) is not None
        rows = db.session.execute(select(func.count()).select_from(BillingRecord)).scalar_one()
        assert rows == 0
