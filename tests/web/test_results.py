"""Findings through the API: filters, pagination, CSV export for Excel-fr."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from flask import Flask
from flask.testing import FlaskClient

from tests.support.api import Person, upload_csv
from tests.support.csvfiles import act, billing_csv
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
    filtered = client.get(f"/runs/{run_id}?severity=optimization").get_data(as_text=True)
    assert "Frais de cabinet non facturé" in filtered and "date invalide" not in filtered
    assert "TEST****0001" in filtered  # the findings are listed once a filter asks for them


def test_results_csv_with_a_bad_filter_is_400_json_and_no_csv(
    app: Flask, client: FlaskClient, editor: Person
) -> None:
    run_id = _run_with_findings(app, client, editor)
    for query in ("rule=office-fee%00", "severity=error%00", "rule=%00", "page=0",
                  f"page={2**63 - 1}", "severity=grave"):
        response = client.get(f"/api/validations/{run_id}/results.csv?{query}",
                              headers=editor.headers)
        assert response.status_code == 400, query
        assert response.mimetype == "application/json"
        assert response.get_json()["error"]["code"] == "invalid_parameters"


def test_results_csv_whose_query_fails_never_answers_200(
    app: Flask, client: FlaskClient, editor: Person
) -> None:
    """The export's query runs before the first byte: its failure is a clean 503, no CSV."""
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    run_id = _run_with_findings(app, client, editor)

    def fail_findings(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "FROM validation_results" in statement:
            raise OperationalError(statement[:20], None, ConnectionError("coupure"))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", fail_findings)
    try:
        response = client.get(f"/api/validations/{run_id}/results.csv", headers=editor.headers)
    finally:
        event.remove(engine, "before_cursor_execute", fail_findings)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "database_unavailable"
    assert b"\xef\xbb\xbf" not in response.get_data()


def test_results_csv_amounts_stay_numbers_for_excel_fr_and_titles_are_french(
    app: Flask, client: FlaskClient, editor: Person
) -> None:
    run_id = _run_with_findings(app, client, editor)
    with app.app_context():
        db.session.add(ValidationResult(
            validation_run_id=run_id, rule="office-fee", scenario="O1", severity="optimization",
            message="gros gain", solution="Facturez", rows=[3], id_ramq=[],
            monetary_impact=Decimal("1234567.89"), data={}))
        db.session.commit()
    raw = client.get(f"/api/validations/{run_id}/results.csv", headers=editor.headers).get_data()
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    header = rows[0]
    assert header[7] == "Impact monétaire ($)" and header[-2:] == ["Code de règle",
                                                                    "Code de scénario"]
    amounts = {row[7] for row in rows[1:]}
    assert amounts == {"-32,40", "64,80", "0,00", "1234567,89"}  # no grouping, no $, comma
    for amount in amounts:
        assert Decimal(amount.replace(",", ".")) is not None
    by_code = {(row[-2], row[-1]): row for row in rows[1:]}
    missed = by_code[("office-fee", "MISSED")]
    assert missed[0] == "Optimisation"
    assert missed[1] == "Frais de cabinet (19928 et 19929)"
    assert missed[2] == "Frais de cabinet non facturés"
    assert by_code[("structure", "invalid-date")][1:3] == ["Structure du fichier",
                                                           "Date invalide"]


def test_results_csv_streams_past_its_first_batch(app: Flask, client: FlaskClient,
                                                  editor: Person) -> None:
    from validateur import exports

    run_id: int = upload_csv(client, editor, billing_csv([act(1)])).get_json()["validationId"]
    count = exports.BATCH * 2 + 7
    with app.app_context():
        db.session.add_all(ValidationResult(
            validation_run_id=run_id, rule="structure", scenario="invalid-date",
            severity="error", message=f"Ligne {n}", solution="", rows=[n], id_ramq=[],
            monetary_impact=Decimal("0"), data={}) for n in range(count))
        db.session.commit()
    raw = client.get(f"/api/validations/{run_id}/results.csv", headers=editor.headers).get_data()
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert len(rows) == count + 1
    column = rows[0].index("Rangées de données")
    assert sorted(int(row[column]) for row in rows[1:]) == list(range(count))


def test_results_csv_failing_mid_stream_breaks_the_download_without_sql(
    app: Flask, client: FlaskClient, editor: Person
) -> None:
    """After the first batch the status is sent; a failure then must not end the body as if
    it were complete (the client sees a broken transfer) and names no SQL."""
    import pytest
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    from validateur import exports

    run_id: int = upload_csv(client, editor, billing_csv([act(1)])).get_json()["validationId"]
    with app.app_context():
        db.session.add_all(ValidationResult(
            validation_run_id=run_id, rule="structure", scenario="invalid-date",
            severity="error", message="x", solution="", rows=[n], id_ramq=[],
            monetary_impact=Decimal("0"), data={}) for n in range(exports.BATCH + 1))
        db.session.commit()

    def fail_second_batch(_conn: object, _cursor: object, statement: str, *_a: object) -> None:
        if "FROM validation_results" in statement and "OFFSET" in statement:
            raise OperationalError("SELECT secret", {"p": 1}, ConnectionError("coupure"))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", fail_second_batch)
    try:
        response = client.get(f"/api/validations/{run_id}/results.csv", headers=editor.headers)
        assert response.status_code == 200
        with pytest.raises(exports.ExportInterrupted) as caught:
            response.get_data()
    finally:
        event.remove(engine, "before_cursor_execute", fail_second_batch)
    assert "SELECT" not in str(caught.value) and caught.value.__cause__ is None
    assert caught.value.__suppress_context__
