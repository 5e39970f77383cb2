"""Findings' typed fields, their filters, groups per scenario, the calendar's access and the
Excel export read back with a real reader (openpyxl)."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook

from tests.support.api import Person, upload_csv
from tests.support.csvfiles import act, billing_csv
from validateur.extensions import db
from validateur.models import ValidationResult

FINDINGS: list[dict[str, Any]] = [
    {"rule": "office-fee", "scenario": "E1", "severity": "error", "message": "=19928 refusé",
     "monetary_impact": Decimal("-32.40"), "service_date": date(2025, 3, 10),
     "doctor": "1234567", "doctor_label": "Dr. C***", "rows": [4], "lines": [5],
     "id_ramq": ["30000000004"]},
    {"rule": "office-fee", "scenario": "MISSED", "severity": "optimization",
     "message": "Frais de cabinet non facturés", "monetary_impact": Decimal("64.80"),
     "service_date": date(2025, 3, 11), "doctor": "1234567", "doctor_label": "Dr. C***"},
    {"rule": "office-fee", "scenario": "MISSED", "severity": "optimization",
     "message": "Autre médecin", "monetary_impact": Decimal("32.40"),
     "service_date": date(2025, 3, 10), "doctor": "7654321", "doctor_label": "Dr. G***"},
    {"rule": "annual-code", "scenario": "E3", "severity": "error", "message": "Code annuel",
     "monetary_impact": Decimal("49.15"), "person": "TEST****0001", "rows": [1, 2],
     "lines": [2, 3], "id_ramq": ["30000000001", "30000000002"]},
    {"rule": "structure", "scenario": "unknown-code", "severity": "warning",
     "message": "172 lignes : le code 17238 est absent", "rows": [1], "lines": [2]},
]


def _run(app: Flask, client: FlaskClient, editor: Person) -> int:
    run_id: int = upload_csv(client, editor, billing_csv([act(1)])).get_json()["validationId"]
    with app.app_context():
        for values in FINDINGS:
            db.session.add(ValidationResult(validation_run_id=run_id, solution="-Annuler",
                                            data={}, **values))
        db.session.commit()
    return run_id


def _get(client: FlaskClient, person: Person, url: str) -> Any:
    response = client.get(url, headers=person.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_items_carry_date_doctor_label_person_and_lines(app: Flask, client: FlaskClient,
                                                       editor: Person) -> None:
    run_id = _run(app, client, editor)
    items = _get(client, editor, f"/api/validations/{run_id}/results")["items"]
    first = next(item for item in items if item["scenario"] == "E1")
    assert (first["serviceDate"], first["doctor"], first["doctorLabel"], first["lines"],
            first["rows"]) == ("2025-03-10", "1234567", "Dr. C***", [5], [4])
    annual = next(item for item in items if item["rule"] == "annual-code")
    assert annual["serviceDate"] is None and annual["doctor"] is None
    assert annual["person"] == "TEST****0001"
    assert [item["severity"] for item in items] == [
        "error", "error", "warning", "optimization", "optimization"]


@pytest.mark.parametrize(("query", "scenarios"), [
    ("doctor=1234567", ["E1", "MISSED"]),
    ("date=2025-03-10", ["E1", "MISSED"]),
    ("severity=error", ["E3", "E1"]),
    ("doctor=1234567&date=2025-03-10", ["E1"]),
    ("scenario=MISSED", ["MISSED", "MISSED"]),
    ("scenario=MISSED&doctor=7654321", ["MISSED"]),
    ("rule=office-fee&severity=optimization&date=2025-03-11", ["MISSED"]),
    ("claim=30000000002", ["E3"]),
    ("date=2024-01-01", []),
])
def test_filters_combine(app: Flask, client: FlaskClient, editor: Person, query: str,
                         scenarios: list[str]) -> None:
    run_id = _run(app, client, editor)
    body = _get(client, editor, f"/api/validations/{run_id}/results?{query}")
    assert [item["scenario"] for item in body["items"]] == scenarios
    assert body["total"] == len(scenarios)


@pytest.mark.parametrize("query", [
    "date=2025-13-01", "date=2025-3-1", "date=20250310", "date=2025-02-30", "date=%00",
    "doctor=123456", "doctor=12345678", "doctor=Tremblay", "scenario=%00", "scenario=E1;--",
    "claim=TREMBLAY", "date=2025-03-10T00:00",
])
def test_bad_filters_are_400_in_french_never_500(app: Flask, client: FlaskClient,
                                                editor: Person, query: str) -> None:
    run_id = _run(app, client, editor)
    for path in ("results", "results.csv", "results.xlsx", "groups"):
        response = client.get(f"/api/validations/{run_id}/{path}?{query}",
                              headers=editor.headers)
        assert response.status_code == 400, (path, query)
        error = response.get_json()["error"]
        assert error["code"] == "invalid_parameters"
        assert error["message"].startswith("Paramètre invalide : « ")


def test_a_bad_date_names_the_expected_shape(app: Flask, client: FlaskClient,
                                            editor: Person) -> None:
    run_id = _run(app, client, editor)
    response = client.get(f"/api/validations/{run_id}/results?date=10/03/2025",
                          headers=editor.headers)
    assert response.get_json()["error"]["message"] == (
        "Paramètre invalide : « date » doit être une date AAAA-MM-JJ (par exemple 2025-03-10).")
    month = client.get(f"/api/validations/{run_id}/calendar?month=2025-13",
                       headers=editor.headers)
    assert month.status_code == 400 and "AAAA-MM" in month.get_json()["error"]["message"]


def test_groups_per_scenario_with_french_titles(app: Flask, client: FlaskClient,
                                                editor: Person) -> None:
    run_id = _run(app, client, editor)
    body = _get(client, editor, f"/api/validations/{run_id}/groups")
    assert body["total"] == len(FINDINGS)
    missed = next(g for g in body["groups"] if g["scenario"] == "MISSED")
    assert missed == {"severity": "optimization", "rule": "office-fee",
                      "ruleTitle": "Frais de cabinet (19928 et 19929)", "scenario": "MISSED",
                      "scenarioTitle": "Frais de cabinet non facturés", "count": 2,
                      "moneyAtRisk": "0.00", "potentialGain": "97.20"}
    one_doctor = _get(client, editor, f"/api/validations/{run_id}/groups?doctor=7654321")
    assert [g["count"] for g in one_doctor["groups"]] == [1]


def test_another_users_run_is_404_for_results_calendar_and_exports(
    app: Flask, client: FlaskClient, editor: Person, make_person: Any
) -> None:
    run_id = _run(app, client, editor)
    stranger = make_person("editor")
    for path in ("results", "results.csv", "results.xlsx", "groups", "calendar"):
        response = client.get(f"/api/validations/{run_id}/{path}", headers=stranger.headers)
        assert response.status_code == 404, path


def test_csv_has_date_doctor_person_and_lines(app: Flask, client: FlaskClient,
                                              editor: Person) -> None:
    import csv

    run_id = _run(app, client, editor)
    raw = client.get(f"/api/validations/{run_id}/results.csv?scenario=E1",
                     headers=editor.headers).get_data()
    header, row = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    cells = dict(zip(header, row, strict=True))
    assert (cells["Date"], cells["Médecin"], cells["Licence du médecin"], cells["Lignes"],
            cells["Rangées de données"], cells["Personne"]) == (
        "2025-03-10", "Dr. C***", "1234567", "5", "4", "")
    assert cells["Message"] == "'=19928 refusé"


def test_the_workbook_reads_back_with_types_filters_and_summary(
    app: Flask, client: FlaskClient, editor: Person
) -> None:
    run_id = _run(app, client, editor)
    response = client.get(f"/api/validations/{run_id}/results.xlsx", headers=editor.headers)
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    assert "constats.xlsx" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.get_data()))
    assert book.sheetnames == ["Constats", "Résumé"]
    sheet = book["Constats"]
    header = [cell.value for cell in sheet[1]]
    assert header[:4] == ["Sévérité", "Règle", "Scénario", "Date"]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:O{len(FINDINGS) + 1}"
    rows = [dict(zip(header, (cell.value for cell in row), strict=True))
            for row in sheet.iter_rows(min_row=2)]
    first = rows[1]  # annual-code's error, then office-fee's
    assert rows[0]["Personne"] == "TEST****0001" and rows[0]["Date"] is None
    assert first["Sévérité"] == "Erreur" and first["Scénario"].startswith("19928")
    assert first["Date"] == datetime(2025, 3, 10)
    assert first["Impact monétaire"] == -32.4
    assert "$" in sheet.cell(row=3, column=header.index("Impact monétaire") + 1).number_format
    assert sheet.cell(row=3, column=4).number_format == "yyyy-mm-dd"
    assert first["Message"] == "'=19928 refusé" and first["Solution"] == "'-Annuler"
    assert (first["Médecin"], first["Licence du médecin"], first["Lignes"]) == (
        "Dr. C***", "1234567", "5")
    summary = [[cell.value for cell in row] for row in book["Résumé"].iter_rows()]
    assert summary[0] == ["Sévérité", "Règle", "Constats", "Montant à risque", "Gain potentiel"]
    assert ["Optimisation", "Frais de cabinet (19928 et 19929)", 2, 0, 97.2] in summary
    assert ["Erreur", "Total", 2, 32.4, 49.15] in summary


def test_the_workbook_follows_the_filters(app: Flask, client: FlaskClient,
                                          editor: Person) -> None:
    run_id = _run(app, client, editor)
    raw = client.get(f"/api/validations/{run_id}/results.xlsx?doctor=7654321",
                     headers=editor.headers).get_data()
    book = load_workbook(io.BytesIO(raw))
    assert book["Constats"].max_row == 2
    assert [row[2] for row in book["Résumé"].iter_rows(min_row=2, values_only=True)
            if row[1] == "Total"] == [1]
