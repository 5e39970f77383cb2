"""The batch page, the runs list's batch rows and the plain form with several files."""

from __future__ import annotations

import html
import io
import re
from decimal import Decimal
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.support.api import Person
from tests.support.batches import upload_batch
from tests.support.csvfiles import act, billing_csv
from validateur import runs
from validateur.extensions import db
from validateur.models import ValidationRun

GOOD = billing_csv([act(1), act(2)])


def login(client: FlaskClient, person: Person) -> Any:
    return client.post("/login", data={"email": person.email, "password": person.password})


def _text(response: Any) -> str:
    return html.unescape(re.sub(r"\s+", " ", response.get_data(as_text=True)))


def _complete(app: Flask, run_id: int, rows: int) -> None:
    with app.app_context():
        assert runs.start_attempt(run_id)
        assert runs.finish(run_id, runs.Completed(
            total_rows=rows, counts={"error": 2, "optimization": 1},
            potential_gain=Decimal("1234.5"), money_at_risk=Decimal("10")),
            source="test", line="fin")


def test_the_batch_page_shows_a_line_per_file_then_the_totals(
        app: Flask, client: FlaskClient, editor: Person) -> None:
    body = upload_batch(client, editor, [(GOOD, "a.csv"), (GOOD, "b.csv")]).get_json()
    batch_id, (first, second) = body["batchId"], [r["validationId"] for r in body["runs"]]
    login(client, editor)
    page = _text(client.get(f"/batches/{batch_id}"))
    assert f"Lot {batch_id}" in page and "En file d'attente" in page
    assert page.count('class="batch-file"') == 2
    assert "0 terminé sur 2 fichiers" in page
    assert 'id="batch-totals" aria-labelledby="totals-title" hidden' in page
    _complete(app, first, 100_000)
    page = _text(client.get(f"/batches/{batch_id}"))
    assert "En cours" in page and "1 terminé sur 2 fichiers" in page
    assert "100 000 lignes · 2 erreurs · 0 avertissement · 1 optimisation" in page
    _complete(app, second, 1)
    page = _text(client.get(f"/batches/{batch_id}"))
    assert 'class="status completed">Terminé<' in page and "2 terminés sur 2 fichiers" in page
    totals = page.split('id="batch-totals"')[1]
    assert "hidden" not in totals.split(">")[0]
    assert "100 001" in totals and "2 469,00 $" in totals  # `_text` folds the narrow spaces
    assert f'/api/batches/{batch_id}/results.csv' in totals


def test_another_organizations_batch_page_is_404(client: FlaskClient, editor: Person,
                                                 make_person: Any) -> None:
    batch_id = upload_batch(client, editor, [(GOOD, "a.csv")]).get_json()["batchId"]
    login(client, make_person("editor"))
    assert client.get(f"/batches/{batch_id}").status_code == 404


def test_the_runs_list_groups_a_batchs_runs_under_a_batch_row(
        app: Flask, client: FlaskClient, editor: Person) -> None:
    batch_id = upload_batch(client, editor, [(GOOD, "a.csv"), (GOOD, "b.csv")]).get_json()[
        "batchId"]
    login(client, editor)
    client.post("/upload", data={"file": (io.BytesIO(GOOD), "seul.csv")},
                content_type="multipart/form-data")
    page = _text(client.get("/runs"))
    assert page.count('class="batch-group"') == 1
    assert f"Lot N° {batch_id}</a> · 2 fichiers · " in page
    assert page.count('class="in-batch"') == 2
    filtered = _text(client.get(f"/runs?batch={batch_id}"))
    assert f"2 validations du lot N° {batch_id}" in filtered and "seul.csv" not in filtered
    assert client.get("/runs?batch=abc").status_code == 400


def test_the_plain_form_with_several_files_makes_a_batch(
        app: Flask, client: FlaskClient, editor: Person) -> None:
    login(client, editor)
    response = client.post("/upload", data={"file": [
        (io.BytesIO(GOOD), "a.csv"), (io.BytesIO(b""), "vide.csv"), (io.BytesIO(GOOD), "b.csv")]},
        content_type="multipart/form-data")
    assert response.status_code == 302
    assert re.fullmatch(r"/batches/\d+", response.headers["Location"])
    page = _text(client.get(response.headers["Location"]))
    assert "« vide.csv » refusé : Le fichier est vide." in page
    assert page.count('class="batch-file"') == 2
    with app.app_context():
        assert db.session.query(ValidationRun).count() == 2


def test_the_upload_page_takes_several_files(client: FlaskClient, editor: Person) -> None:
    login(client, editor)
    form = _text(client.get("/")).split('<form id="upload-form"')[1].split("</form>")[0]
    assert " multiple" in form and 'data-batch-api="/api/batches"' in form
    assert "au plus 20" in _text(client.get("/"))


def test_cancelling_a_batch_from_its_page_asks_first(app: Flask, client: FlaskClient,
                                                     editor: Person, make_person: Any) -> None:
    body = upload_batch(client, editor, [(GOOD, "a.csv"), (GOOD, "b.csv")]).get_json()
    batch_id, first = body["batchId"], body["runs"][0]["validationId"]
    _complete(app, first, 3)
    viewer = make_person("viewer")
    login(client, viewer)
    assert client.get(f"/batches/{batch_id}/cancel").status_code in (403, 404)
    client.post("/logout")
    login(client, editor)
    assert 'id="batch-cancel"' in _text(client.get(f"/batches/{batch_id}"))
    question = _text(client.get(f"/batches/{batch_id}/cancel"))
    assert f"Annuler le lot {batch_id} ?" in question
    assert "1 validation du lot sera annulée" in question
    done = client.post(f"/batches/{batch_id}/cancel")
    assert done.status_code == 302
    page = _text(client.get(done.headers["Location"]))
    assert f"Lot {batch_id} annulé." in page and "Terminé en partie" in page
    assert 'id="batch-cancel"' not in page
    again = client.get(f"/batches/{batch_id}/cancel")
    assert again.status_code == 302
    assert "déjà terminé" in _text(client.get(again.headers["Location"]))
