"""Findings traced to the file and the doctor × day calendar, through upload → real worker."""

from __future__ import annotations

import csv
import subprocess
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.api import Person, upload_csv
from tests.support.csvfiles import act, billing_csv, sample_file
from tests.workers import wait_final
from validateur import reference
from validateur.validation.cells import (
    context_tokens,
    doctor_identity,
    parse_amount,
    patient_identity,
)

pytestmark = pytest.mark.e2e
SHARED_CODES = Path(__file__).resolve().parents[3] / "shared" / "data" / "ramq_codes.csv"


def _results(client: FlaskClient, person: Person, run_id: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        body = client.get(f"/api/validations/{run_id}/results?per_page=500&page={page}",
                          headers=person.headers).get_json()
        items += body["items"]
        if len(items) >= body["total"]:
            return items
        page += 1


def test_lines_are_what_a_spreadsheet_shows_rows_keep_their_meaning(
    app: Flask, client: FlaskClient, editor: Person, rq_worker: subprocess.Popen[bytes]
) -> None:
    with app.app_context():
        reference.import_codes(SHARED_CODES)
    bad = {"Date de Service": "2025-13-45"}
    rows = [act(1), act(2, Code="17238", **bad), act(3, Code="17238"), act(4, **bad),
            act(5, **{"ID RAMQ": "30000000001"})]
    header, *data = billing_csv(rows, delimiter=";", encoding="cp1252").split(b"\r\n")[:6]
    content = b"\r\n".join([
        b"sep=;", "Facturation journalière".encode("cp1252"), b"", header,  # lines 1-4
        data[0], data[1], b"", data[2], b";;;;;", data[3], data[4],  # lines 5-11
    ]) + b"\r\n"
    run_id = upload_csv(client, editor, content).get_json()["validationId"]
    run = wait_final(app, run_id)
    assert run.status == "completed" and run.total_rows == 5
    found = {item["scenario"]: item for item in _results(client, editor, run_id)
             if item["rule"] == "structure"}
    date = found["invalid-date"]
    assert (date["rows"], date["lines"]) == ([2, 4], [6, 10])
    assert date["message"] == (
        "Lignes 6 et 10 : la date « 2025-13-45 » de la colonne « Date de Service » est invalide.")
    unknown = found["unknown-code"]
    assert (unknown["rows"], unknown["lines"], unknown["data"]["code"]) == (
        [2, 3], [6, 8], "17238")
    duplicate = found["duplicate-claim"]  # its lines come from the rows stored
    assert (duplicate["rows"], duplicate["lines"]) == ([1, 5], [5, 11])
    assert unknown["doctor"] == "1234567" and unknown["doctorLabel"] == "Dr. C***"
    assert date["serviceDate"] is None and unknown["serviceDate"] is None
    assert duplicate["serviceDate"] is None  # the claim log keeps rows only


def _expected_calendar(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The calendar's figures summed here from the CSV itself, as docs/rules.md counts them."""
    days: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"billed": Decimal("0"), "patients": {}})
    with path.open(encoding="cp1252", newline="") as text:
        for cells in csv.DictReader(text, delimiter=";"):
            doctor = doctor_identity(cells["Doctor Info"])
            day = days[(doctor, cells["Date de Service"])]
            day["billed"] += parse_amount(cells["Montant Preliminaire"]) or 0
            code = cells["Code"].strip()
            patient = patient_identity(cells["Patient"])
            if code in ("19928", "19929") or not code or not patient:
                continue
            walk_in = bool({"G160", "AR"} & context_tokens(cells["Élement de contexte"]))
            paid = (parse_amount(cells["Montant payé"]) or 0) > 0
            marks = day["patients"].setdefault(patient, {})
            marks[walk_in] = marks.get(walk_in, False) or paid
    expected = {}
    for key, day in days.items():
        groups = [(walk_in, paid) for marks in day["patients"].values()
                  for walk_in, paid in marks.items()]
        expected[key] = {
            "visits": len(day["patients"]),
            "registered": {"paid": groups.count((False, True)),
                           "unpaid": groups.count((False, False))},
            "walkIn": {"paid": groups.count((True, True)), "unpaid": groups.count((True, False))},
            "billed": f"{day['billed']:.2f}",
        }
    return expected


def test_calendar_figures_are_sums_over_the_file(
    app: Flask, client: FlaskClient, editor: Person, rq_worker: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    path = sample_file(tmp_path / "sample.csv", 2_500)
    run_id = upload_csv(client, editor, path.read_bytes()).get_json()["validationId"]
    assert wait_final(app, run_id).status == "completed"
    body = client.get(f"/api/validations/{run_id}/calendar", headers=editor.headers).get_json()
    expected = _expected_calendar(path)
    got = {(doctor["doctor"], day["date"]): day
           for doctor in body["doctors"] for day in doctor["days"]}
    assert set(got) == set(expected)
    for key, figures in expected.items():
        assert {name: got[key][name] for name in figures} == figures, key
    assert len({doctor["doctor"] for doctor in body["doctors"]}) == len(body["doctors"])
    assert all(doctor["label"].startswith("Dr. ") for doctor in body["doctors"])

    findings: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for item in _results(client, editor, run_id):
        if item["doctor"] and item["serviceDate"] and item["severity"] != "info":
            findings[(item["doctor"], item["serviceDate"])].append(item)
    busy = max(findings, key=lambda key: len(findings[key]))
    for key, day in got.items():
        mine = findings.get(key, [])
        assert day["findings"] == len(mine), key
        gain = sum((Decimal(f["monetaryImpact"]) for f in mine
                    if Decimal(f["monetaryImpact"]) > 0), Decimal("0"))
        assert Decimal(day["potentialGain"]) == gain
        severities = {f["severity"] for f in mine}
        status = ("error" if "error" in severities else
                  "optimization" if "optimization" in severities else "ok")
        assert day["status"] == status, key

    one = client.get(f"/api/validations/{run_id}/calendar?doctor={busy[0]}&month="
                     f"{busy[1][:7]}", headers=editor.headers).get_json()
    assert [doctor["doctor"] for doctor in one["doctors"]] == [busy[0]]
    assert all(day["date"].startswith(busy[1][:7]) for day in one["doctors"][0]["days"])
    assert next(day for day in one["doctors"][0]["days"] if day["date"] == busy[1]) == got[busy]
