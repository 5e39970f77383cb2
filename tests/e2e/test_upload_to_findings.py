"""End to end: upload → real `rq worker` → rows in PostgreSQL → completed, file gone."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from tests.support.api import Person, upload_csv
from tests.support.csvfiles import act, billing_csv
from tests.workers import wait_final
from validateur.extensions import db
from validateur.models import BillingRecord, ValidationLog

pytestmark = pytest.mark.e2e


def _rows(app: Flask, run_id: int) -> list[BillingRecord]:
    with app.app_context():
        return list(db.session.execute(
            select(BillingRecord).where(BillingRecord.validation_run_id == run_id)
            .order_by(BillingRecord.row_number)
        ).scalars())


def test_cp1252_semicolon_file_completes_with_accents_intact(
    app: Flask, client: FlaskClient, editor: Person, rq_worker: subprocess.Popen[bytes]
) -> None:
    rows = [act(n, Patient=f"TEST{n:08d} - CÔTÉ, ÈVE FRANÇOIS") for n in range(1, 41)]
    rows.append(act(41, Code="19928", **{"Montant Preliminaire": "32,40"}))
    content = billing_csv(rows, encoding="cp1252", delimiter=";", drop_last_cell=True)
    response = upload_csv(client, editor, content, "facturation-décembre.csv")
    assert response.status_code == 202
    run_id = response.get_json()["validationId"]

    run = wait_final(app, run_id)
    assert (run.status, run.phase, run.progress) == ("completed", "done", 100)
    assert run.total_rows == 41 and run.processed_rows == 41

    stored = _rows(app, run_id)
    assert [r.row_number for r in stored] == list(range(1, 42))
    assert stored[0].patient == "TEST00000001 - CÔTÉ, ÈVE FRANÇOIS"
    assert stored[0].doctor_info == "1234567-12345 | Côté, Ève - Omnipraticien"
    assert str(stored[0].montant_paye) == "49.15"
    assert stored[40].code == "19928"
    assert not any(Path(app.config["VALIDATEUR_UPLOAD_DIR"]).iterdir())

    with app.app_context():
        messages = db.session.execute(
            select(ValidationLog.message).where(ValidationLog.validation_run_id == run_id)
        ).scalars().all()
    assert "Traitement terminé" in messages

    body = client.get(f"/api/validations/{run_id}", headers=editor.headers).get_json()
    assert body["status"] == "completed" and body["totalRows"] == 41
    logs = client.get(f"/api/validations/{run_id}/logs", headers=editor.headers).get_json()
    assert len(logs["items"]) >= 3
    assert "CÔTÉ" not in str(logs) and "TEST00000001" not in str(logs)


def test_findings_are_stored_and_served(
    app: Flask, client: FlaskClient, editor: Person, rq_worker: subprocess.Popen[bytes]
) -> None:
    rows = [act(1), act(2, **{"Date de Service": "2025-13-45"}), act(3, Code="")]
    run_id = upload_csv(client, editor, billing_csv(rows)).get_json()["validationId"]
    run = wait_final(app, run_id)
    assert run.status == "completed"
    results = client.get(f"/api/validations/{run_id}/results?rule=structure",
                         headers=editor.headers).get_json()
    scenarios = sorted((item["scenario"], tuple(item["rows"])) for item in results["items"])
    assert ("invalid-date", (2,)) in scenarios
    assert ("missing-value", (3,)) in scenarios
    assert run.error_count >= 2
    assert len(_rows(app, run_id)) == 3


def test_unusable_file_fails_the_run_with_a_french_message(
    app: Flask, client: FlaskClient, editor: Person, rq_worker: subprocess.Popen[bytes]
) -> None:
    """A file that passes the upload sniff but breaks later (a quote never closed)."""
    content = billing_csv([act(n) for n in range(1, 5)]) + b'5,"F5' + b"x" * 2_000_000
    run_id = upload_csv(client, editor, content).get_json()["validationId"]
    run = wait_final(app, run_id)
    assert run.status == "failed"
    assert run.error_message and "ligne" in run.error_message.lower()
    assert run.attempts == 1
    assert _rows(app, run_id) == []
    assert not any(Path(app.config["VALIDATEUR_UPLOAD_DIR"]).iterdir())


def test_retry_after_partial_attempt_does_not_duplicate_rows(
    app: Flask, client: FlaskClient, editor: Person, rq_worker: subprocess.Popen[bytes]
) -> None:
    """Rows left by an earlier attempt are replaced, not added to."""
    run_id = upload_csv(client, editor, billing_csv([act(n) for n in range(1, 11)])
                        ).get_json()["validationId"]
    wait_final(app, run_id)
    with app.app_context():
        count = db.session.execute(
            select(func.count()).select_from(BillingRecord)
            .where(BillingRecord.validation_run_id == run_id)
        ).scalar_one()
        assert count == 10
        db.session.execute(text("UPDATE validation_runs SET status='queued' WHERE id=:i"),
                           {"i": run_id})
        db.session.commit()
    from jobs.validation import validate_run

    # The file is gone, so the new attempt fails as input error, but must not add rows.
    validate_run(run_id)
    assert len(_rows(app, run_id)) == 10
