"""Findings through the API: filters, pagination, CSV export for Excel-fr."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import Person, upload_csv
from tests.csvfiles import act, billing_csv
from validateur.extensions import db
from validateur.models import ValidationResult


def _run_with_findings(app: Flask, client: FlaskClient, editor: Person) -> int:
    run_id: int = upload_csv(client, editor, billing_csv([act(1)])).get_json()["validationId"]
    findings = [
        ("office-fee", "E1", "error", "=HYPERLINK(\"x\") 19928 refusé", Decimal("-32.40")),
        ("office-fee", "MISSED", "optimization", "Frais de cabinet non facturé", Decimal("64.80")),
        ("structure", "invalid-date", "error", "Ligne 2 : date invalide", Decimal("0")),
        ("annual-code", "P1", "info", "Conforme", Decimal("0")),
    ]
    with app.app_context():
        for rule, scenario, severity, message, impact in findings:
            db.session.add(ValidationResult(
                validation_run_id=run_id, rule=rule, scenario=scenario, severity=severity,
                message=message, solution="-Annuler", rows=[1, 2], id_ramq=["30000000001"],
                monetary_impact=impact, data={"patient": "TEST****0001"},
            ))
        db.session.commit()
    return run_id


def test_results_filter_by_severity_and_rule(app: Flask, client: FlaskClient,
                                            editor: Person) -> None:
    run_id = _run_with_findings(app, client, editor)
    url = f"/api/validations/{run_id}/results"
    everything = client.get(url, headers=editor.headers).get_json()
    assert [i["severity"] for i in everything["items"]] == ["error", "error", "optimization",
                                                            "info"]
    errors = client.get(url + "?severity=error", headers=editor.headers).get_json()
    assert {i["scenario"] for i in errors["items"]} == {"E1", "invalid-date"}
    fees = client.get(url + "?rule=office-fee&per_page=1&page=2",
                      headers=editor.headers).get_json()
    assert fees["total"] == 2 and len(fees["items"]) == 1
    item = everything["items"][0]
    assert set(item) >= {"rule", "scenario", "severity", "message", "solution", "rows",
                         "idRamq", "monetaryImpact", "data"}
    assert item["monetaryImpact"] == "-32.40" and item["idRamq"] == ["30000000001"]


def test_results_csv_is_excel_fr_with_formulas_neutralised(app: Flask, client: FlaskClient,
                                                          editor: Person) -> None:
    run_id = _run_with_findings(app, client, editor)
    response = client.get(f"/api/validations/{run_id}/results.csv?severity=error",
                          headers=editor.headers)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][0] == "Sévérité" and len(rows) == 3
    message_cells = [row[3] for row in rows[1:]]
    assert "'=HYPERLINK(\"x\") 19928 refusé" in message_cells
    assert all(row[4] == "'-Annuler" for row in rows[1:])
    assert {row[7] for row in rows[1:]} == {"-32,40", "0,00"}


def test_run_page_groups_findings_with_dollar_totals(app: Flask, client: FlaskClient,
                                                    editor: Person) -> None:
    run_id = _run_with_findings(app, client, editor)
    with app.app_context():
        from sqlalchemy import update

        from validateur.models import ValidationRun

        db.session.execute(update(ValidationRun).where(ValidationRun.id == run_id).values(
            status="completed", phase="done", progress=100, potential_gain=Decimal("64.80"),
            money_at_risk=Decimal("32.40"), error_count=2, optimization_count=1, info_count=1))
        db.session.commit()
    client.post("/login", data={"email": editor.email, "password": editor.password})
    page = client.get(f"/runs/{run_id}").get_data(as_text=True)
    assert "64,80\u00a0$" in page
    assert "32,40" in page
    assert "TEST****0001" in page
    filtered = client.get(f"/runs/{run_id}?severity=optimization").get_data(as_text=True)
    assert "Frais de cabinet non facturé" in filtered and "date invalide" not in filtered
