"""End to end: a batch through a real `rq worker` → every run final → the batch's totals,
its `finishedAt`, and one export of all its findings with a « Fichier » column."""

from __future__ import annotations

import csv
import io
import subprocess

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.api import Person
from tests.support.batches import upload_batch, zip_of
from tests.support.csvfiles import act, billing_csv
from tests.workers import wait_final, wait_for

pytestmark = pytest.mark.e2e


def _with_findings(count: int) -> bytes:
    rows = [act(n) for n in range(1, count + 1)]
    rows.append(act(count + 1, Code="19928", **{"Montant Preliminaire": "32,40"}))
    return billing_csv(rows)


def test_a_batch_completes_with_totals_and_one_export(
        app: Flask, client: FlaskClient, editor: Person,
        rq_worker: subprocess.Popen[bytes]) -> None:
    response = upload_batch(client, editor, [
        (_with_findings(3), "clinique-a.csv"),
        (zip_of({"=clinique-b.csv": _with_findings(5)}), "autres.zip"),
    ])
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    batch_id = body["batchId"]
    for run in body["runs"]:
        assert wait_final(app, run["validationId"]).status == "completed"

    def settled() -> bool:
        answer = client.get(f"/api/batches/{batch_id}", headers=editor.headers).get_json()
        return bool(answer["finishedAt"])

    wait_for(settled, timeout=30)
    batch = client.get(f"/api/batches/{batch_id}", headers=editor.headers).get_json()
    assert batch["status"] == "completed" and batch["fileCount"] == 2
    assert batch["counts"]["completed"] == 2
    runs = batch["runs"]
    assert batch["totals"]["rows"] == 10 == sum(run["totalRows"] for run in runs)
    for severity in ("error", "warning", "optimization", "info"):
        assert batch["totals"][severity] == sum(run["counts"][severity] for run in runs)
    findings = sum(sum(run["counts"].values()) for run in runs)
    assert findings > 0

    export = client.get(f"/api/batches/{batch_id}/results.csv", headers=editor.headers)
    assert export.status_code == 200
    assert export.headers["Content-Disposition"] == (
        f'attachment; filename="lot-{batch_id}-constats.csv"')
    text = export.get_data(as_text=True)
    assert text.startswith("\ufeff")
    lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert lines[0][:2] == ["Fichier", "Sévérité"]
    assert len(lines) - 1 == findings
    files = [line[0] for line in lines[1:]]
    assert set(files) == {"clinique-a.csv", "'=clinique-b.csv"}  # a formula is neutralised
    assert files == sorted(files, key=["clinique-a.csv", "'=clinique-b.csv"].index)
