"""A batch's exports (CSV and Excel, « Fichier » first) and its deletion, through the API and
the batch page: without a worker, findings written straight to the batch's runs."""

from __future__ import annotations

import csv
import html
import io
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from tests.support.api import Person
from tests.support.batches import upload_batch
from tests.support.csvfiles import act, billing_csv
from validateur.extensions import db
from validateur.models import Batch, ValidationResult, ValidationRun

GOOD = billing_csv([act(1), act(2)])


def _finding(run_id: int, rule: str, severity: str, impact: str, message: str) -> None:
    db.session.add(ValidationResult(
        validation_run_id=run_id, rule=rule, scenario="E1", severity=severity,
        message=message, solution="Corriger", monetary_impact=Decimal(impact), data={},
        rows=[1], lines=[2]))


def _batch_with_findings(app: Flask, client: FlaskClient, editor: Person) -> tuple[int, list[int]]:
    """Two files (one named like a formula): 2 findings on the first, 1 on the second."""
    body = upload_batch(client, editor, [(GOOD, "clinique-a.csv"), (GOOD, "=clinique-b.csv")]
                        ).get_json()
    ids = [run["validationId"] for run in body["runs"]]
    with app.app_context():
        _finding(ids[0], "office-fee", "error", "-32.40", "Frais refusés")
        _finding(ids[0], "annual-code", "optimization", "49.15", "Code annuel")
        _finding(ids[1], "office-fee", "error", "-10.00", "Autre refus")
        db.session.commit()
    return int(body["batchId"]), ids


def _count(app: Flask, model: Any) -> int:
    with app.app_context():
        return int(db.session.execute(select(func.count()).select_from(model)).scalar_one())


def test_the_batch_workbook_has_a_file_column_and_a_summary_of_every_run(
        app: Flask, client: FlaskClient, editor: Person) -> None:
    batch_id, _ = _batch_with_findings(app, client, editor)
    response = client.get(f"/api/batches/{batch_id}/results.xlsx", headers=editor.headers)
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="lot-{batch_id}-constats.xlsx"')
    book = load_workbook(io.BytesIO(response.get_data()))
    sheet = book["Constats"]
    header = [cell.value for cell in sheet[1]]
    assert header[:3] == ["Fichier", "Sévérité", "Règle"]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:P4"
    rows = [dict(zip(header, row, strict=True))
            for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert [(r["Fichier"], r["Sévérité"], r["Impact monétaire"]) for r in rows] == [
        ("clinique-a.csv", "Erreur", -32.4), ("clinique-a.csv", "Optimisation", 49.15),
        ("'=clinique-b.csv", "Erreur", -10.0)]  # in submission order; a formula neutralised
    summary = [list(row) for row in book["Résumé"].iter_rows(min_row=2, values_only=True)]
    assert ["Erreur", "Total", 2, 42.4, 0] in summary  # both runs' errors
    assert ["Optimisation", "Total", 1, 0, 49.15] in summary


def test_the_batch_exports_follow_the_severity_filter(
        app: Flask, client: FlaskClient, editor: Person) -> None:
    batch_id, _ = _batch_with_findings(app, client, editor)
    raw = client.get(f"/api/batches/{batch_id}/results.xlsx?severity=error",
                     headers=editor.headers).get_data()
    book = load_workbook(io.BytesIO(raw))
    assert book["Constats"].max_row == 3
    assert [row[1] for row in book["Résumé"].iter_rows(min_row=2, values_only=True)
            if row[1]] == ["Frais de cabinet (19928 et 19929)", "Total"]
    text = client.get(f"/api/batches/{batch_id}/results.csv?severity=error",
                      headers=editor.headers).get_data(as_text=True)
    lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert [line[0] for line in lines[1:]] == ["clinique-a.csv", "'=clinique-b.csv"]


def test_another_organizations_batch_exports_and_delete_are_404(
        app: Flask, client: FlaskClient, editor: Person, make_person: Any) -> None:
    batch_id, _ = _batch_with_findings(app, client, editor)
    other = make_person("editor")
    for path in ("results.csv", "results.xlsx"):
        assert client.get(f"/api/batches/{batch_id}/{path}",
                          headers=other.headers).status_code == 404
    assert client.delete(f"/api/batches/{batch_id}", headers=other.headers).status_code == 404
    assert _count(app, Batch) == 1 and _count(app, ValidationRun) == 2


def test_deleting_a_batch_removes_it_with_its_runs_and_findings(
        app: Flask, client: FlaskClient, editor: Person, make_person: Any) -> None:
    batch_id, ids = _batch_with_findings(app, client, editor)
    with app.app_context():
        stored = [Path(app.config["VALIDATEUR_UPLOAD_DIR"]) / str(name) for name in
                  db.session.execute(select(ValidationRun.stored_name)
                                     .where(ValidationRun.id.in_(ids))).scalars()]
    assert len(stored) == 2 and all(path.exists() for path in stored)
    kept = upload_batch(client, editor, [(GOOD, "autre.csv")]).get_json()["batchId"]
    assert client.delete(f"/api/batches/{batch_id}",
                         headers=make_person("viewer").headers).status_code in (403, 404)
    response = client.delete(f"/api/batches/{batch_id}", headers=editor.headers)
    assert response.status_code == 204
    assert client.get(f"/api/batches/{batch_id}", headers=editor.headers).status_code == 404
    assert client.get(f"/api/batches/{kept}", headers=editor.headers).status_code == 200
    assert (_count(app, Batch), _count(app, ValidationRun), _count(app, ValidationResult)) == (
        1, 1, 0)
    assert not any(path.exists() for path in stored)


def _text(response: Any) -> str:
    return html.unescape(re.sub(r"\s+", " ", response.get_data(as_text=True)))


def test_the_batch_page_links_both_exports_and_deletes_after_asking(
        app: Flask, client: FlaskClient, editor: Person) -> None:
    batch_id, _ = _batch_with_findings(app, client, editor)
    client.post("/login", data={"email": editor.email, "password": editor.password})
    page = _text(client.get(f"/batches/{batch_id}"))
    assert f'href="/api/batches/{batch_id}/results.csv"' in page
    assert f'href="/api/batches/{batch_id}/results.xlsx"' in page
    assert f'href="/batches/{batch_id}/delete"' in page
    question = _text(client.get(f"/batches/{batch_id}/delete"))
    assert f"Supprimer le lot {batch_id} ?" in question
    assert "Le lot (2 validations) sera effacé définitivement" in question
    assert "2 validations en cours seront d'abord arrêtées." in question
    done = client.post(f"/batches/{batch_id}/delete")
    assert done.status_code == 302 and done.headers["Location"].endswith("/runs")
    assert f"Lot {batch_id} supprimé, avec 2 validations." in _text(
        client.get(done.headers["Location"]))
    assert client.get(f"/batches/{batch_id}").status_code == 404
    assert _count(app, ValidationRun) == 0


def test_deleting_a_batchs_runs_one_by_one_takes_the_batch_with_the_last(
        app: Flask, client: FlaskClient, editor: Person) -> None:
    batch_id, ids = _batch_with_findings(app, client, editor)
    assert client.delete(f"/api/validations/{ids[0]}", headers=editor.headers).status_code == 204
    batch = client.get(f"/api/batches/{batch_id}", headers=editor.headers).get_json()
    assert batch["fileCount"] == 1 and [run["id"] for run in batch["runs"]] == [ids[1]]
    assert client.delete(f"/api/validations/{ids[1]}", headers=editor.headers).status_code == 204
    assert client.get(f"/api/batches/{batch_id}", headers=editor.headers).status_code == 404
    assert _count(app, Batch) == 0
