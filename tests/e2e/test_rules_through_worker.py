"""A representative set of the checks of docs/rules.md, through upload → real worker → API → CSV."""

from __future__ import annotations

import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.api import Person, upload_csv
from tests.support.csvfiles import act, billing_csv
from tests.workers import wait_final
from validateur import reference

pytestmark = pytest.mark.e2e
CODES_HEADER = ("billing_code,place,tariff_value,extra_unit_value,unit_require,description,"
                "source_file,top_level,level1_group,level2_group,leaf,indicators,anchor_id\r\n")


def _visits(count: int, *, start: int = 1, walk_in: bool = False,
            **cells: str) -> list[dict[str, str]]:
    context = {"Élement de contexte": "G160"} if walk_in else {}
    return [act(n, **context, **cells) for n in range(start, start + count)]


def _fee(n: int, code: str, *, walk_in: bool = False) -> dict[str, str]:
    amount = "32,40" if code == "19928" else "64,80"
    cells = {"Code": code, "Montant Preliminaire": amount, "Montant payé": amount,
             "Patient": "TEST99999999 - FRAIS, CABINET"}
    if walk_in:
        cells["Élement de contexte"] = "#g160"
    return act(n, **cells)


def _run(app: Flask, client: FlaskClient, editor: Person,
         rows: list[dict[str, str]]) -> tuple[Any, list[dict[str, Any]]]:
    content = billing_csv(rows, encoding="cp1252", delimiter=";")
    run_id = upload_csv(client, editor, content).get_json()["validationId"]
    run = wait_final(app, run_id)
    assert run.status == "completed", run.error_message
    items = client.get(f"/api/validations/{run_id}/results?per_page=500",
                       headers=editor.headers).get_json()["items"]
    return run, items


def _scenarios(items: list[dict[str, Any]], rule: str) -> list[str]:
    return sorted(i["scenario"] for i in items if i["rule"] == rule and i["scenario"] != "SUMMARY")


def test_3_registered_and_a_19928_give_E1_through_the_worker(
    app: Flask, client: FlaskClient, editor: Person, rq_worker: subprocess.Popen[bytes]
) -> None:
    run, items = _run(app, client, editor, [*_visits(3), _fee(4, "19928")])
    assert _scenarios(items, "office-fee") == ["E1"]
    e1 = next(i for i in items if i["scenario"] == "E1")
    assert e1["monetaryImpact"] == "-32.40" and e1["severity"] == "error"
    assert e1["idRamq"] == ["30000000004"] and "30000000004" in e1["message"]
    assert run.money_at_risk == Decimal("32.40")


def test_13_registered_without_fee_give_MISSED_19929(
    app: Flask, client: FlaskClient, editor: Person, rq_worker: subprocess.Popen[bytes]
) -> None:
    run, items = _run(app, client, editor, _visits(13))
    missed = [i for i in items if i["rule"] == "office-fee" and i["scenario"] == "MISSED"]
    assert len(missed) == 1 and missed[0]["monetaryImpact"] == "64.80"
    assert "19929" in missed[0]["message"] + missed[0]["solution"]
    assert run.potential_gain == Decimal("64.80")


def test_two_paid_15815_in_2025_give_annual_code_E1(
    app: Flask, client: FlaskClient, editor: Person, rq_worker: subprocess.Popen[bytes]
) -> None:
    same_patient = {"Patient": "TEST00000777 - CÔTÉ, ÈVE", "Code": "15815"}
    rows = [act(1, **same_patient), act(2, **{**same_patient, "Date de Service": "2025-06-20"})]
    _, items = _run(app, client, editor, rows)
    assert _scenarios(items, "annual-code") == ["E1"]
    e1 = next(i for i in items if i["rule"] == "annual-code" and i["scenario"] == "E1")
    assert "2 fois" in e1["message"]
    assert e1["data"]["patient"] == "TEST****0777"
    assert "CÔTÉ" not in str(items)


def test_7_times_8857_give_210_minutes(
    app: Flask, client: FlaskClient, editor: Person, rq_worker: subprocess.Popen[bytes]
) -> None:
    rows = [act(n, Code="8857", Début=f"{8 + n}:00", **{"Montant payé": "0,00",
                                                       "Montant Preliminaire": "59,70"})
            for n in range(1, 8)]
    _, items = _run(app, client, editor, rows)
    minutes = [i for i in items if i["rule"] == "clinical-minutes"]
    assert len(minutes) == 1 and minutes[0]["severity"] == "error"
    assert "210" in minutes[0]["message"] and "30" in minutes[0]["message"]
    assert minutes[0]["rows"][0] == 1


def test_visit_duration_uses_the_imported_codes_table(
    app: Flask, client: FlaskClient, editor: Person, rq_worker: subprocess.Popen[bytes],
    tmp_path: Path
) -> None:
    table = tmp_path / "codes.csv"
    table.write_text(CODES_HEADER + '15804,cabinet,49.15,,FALSE,Visite de suivi,x.html,'
                     '"B - CONSULTATION, EXAMEN ET VISITE",g,h,leaf,,1\r\n', encoding="utf-8")
    with app.app_context():
        reference.import_codes(table)
    rows = [act(1, Début="10:00", Fin="10:30", **{"Montant Preliminaire": "42,50"})]
    _, items = _run(app, client, editor, rows)
    gains = [i for i in items if i["rule"] == "visit-duration"]
    assert [g["monetaryImpact"] for g in gains] == ["17.20"]
    assert "8857" in gains[0]["message"] + gains[0]["solution"]


def test_findings_csv_export_of_a_real_run(
    app: Flask, client: FlaskClient, editor: Person, rq_worker: subprocess.Popen[bytes]
) -> None:
    run, items = _run(app, client, editor, [*_visits(3), _fee(4, "19928")])
    csv_text = client.get(f"/api/validations/{run.id}/results.csv",
                          headers=editor.headers).get_data().decode("utf-8-sig")
    lines = csv_text.strip().split("\r\n")
    assert len(lines) == len(items) + 1
    assert any(line.endswith(";office-fee;E1") and ";-32,40;" in line for line in lines)
