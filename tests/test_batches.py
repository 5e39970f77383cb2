"""Batches that lose their runs: purged past retention by the sweep, or deleted one by one;
an empty batch goes with its last run instead of lingering as an empty line."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from tests.support.runs import make_run
from validateur import batches
from validateur.extensions import db
from validateur.maintenance import run_maintenance
from validateur.models import Batch, ValidationRun, utcnow


def _batch() -> int:
    batch = batches.create(None, None)
    batch_id = int(batch.id)
    db.session.commit()
    return batch_id


def _exists(batch_id: int) -> bool:
    db.session.expire_all()
    return db.session.get(Batch, batch_id) is not None


def test_the_retention_purge_removes_a_batch_once_all_its_runs_are_gone(
        app: Flask, app_ctx: None) -> None:
    days = app.config["VALIDATEUR_RETENTION_DAYS"]
    old = utcnow() - timedelta(days=days + 1)
    expired, mixed = _batch(), _batch()
    make_run("completed", batch_id=expired, finished_at=old)
    make_run("failed", batch_id=expired, finished_at=old)
    make_run("completed", batch_id=mixed, finished_at=old)
    recent = make_run("completed", batch_id=mixed, finished_at=utcnow())
    report = run_maintenance()
    assert (report.purged_runs, report.purged_batches) == (3, 1)
    assert not _exists(expired)
    assert _exists(mixed) and db.session.get(ValidationRun, recent) is not None
    assert run_maintenance().purged_batches == 0


def test_delete_empty_leaves_a_batch_that_still_has_a_run(app_ctx: None) -> None:
    empty, full = _batch(), _batch()
    make_run("queued", batch_id=full)
    assert batches.delete_empty([empty, full]) == 1
    assert not _exists(empty) and _exists(full)
    assert batches.delete_empty([]) == 0
