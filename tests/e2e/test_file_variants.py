"""Every real-world file variant of docs/file-format.md, through upload → real `rq worker`.

Each file is posted to the API, validated by a real `rq worker` subprocess, and checked for
its final status, the rows stored, the findings and an empty upload directory. Variants the
service can read complete (with `structure` findings where the text was damaged); a file that
turns into binary content fails at once as an unreadable file naming the last good row, never
as a technical error, never retried.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.support.api import Person, upload_csv
from tests.support.csvfiles import act, billing_csv
from tests.workers import wait_final
from validateur.extensions import db
from validateur.models import BillingRecord, ValidationResult, ValidationRun

pytestmark = pytest.mark.e2e


def _records(app: Flask, run_id: int) -> list[BillingRecord]:
    with app.app_context():
        found = list(db.session.execute(
            select(BillingRecord).where(BillingRecord.validation_run_id == run_id)
            .order_by(BillingRecord.row_number)).scalars())
        db.session.expunge_all()
    return found


def _findings(app: Flask, run_id: int, rule: str = "structure") -> list[ValidationResult]:
    with app.app_context():
        found = list(db.session.execute(
            select(ValidationResult).where(ValidationResult.validation_run_id == run_id,
                                           ValidationResult.rule == rule)
            .order_by(ValidationResult.id)).scalars())
        db.session.expunge_all()
    return found


def _upload_dir_is_empty(app: Flask) -> bool:
    return not any(Path(app.config["VALIDATEUR_UPLOAD_DIR"]).iterdir())


def _validate(app: Flask, client: FlaskClient, editor: Person, content: bytes) -> ValidationRun:
    response = upload_csv(client, editor, content)
    assert response.status_code == 202, response.get_json()
    run = wait_final(app, response.get_json()["validationId"])
    assert _upload_dir_is_empty(app)
    return run


def _completed(app: Flask, client: FlaskClient, editor: Person,
               content: bytes) -> tuple[ValidationRun, list[BillingRecord]]:
    run = _validate(app, client, editor, content)
    assert (run.status, run.attempts, run.error_message) == ("completed", 1, None)
    records = _records(app, run.id)
    assert run.total_rows == len(records)
    return run, records


def _scenarios(findings: list[ValidationResult]) -> list[tuple[str, str, list[int], Any]]:
    return [(f.scenario, f.severity, f.rows, f.data.get("column")) for f in findings]


ACTS = [act(1), act(2, Code="19928", **{"Montant Preliminaire": "32,40"}), act(3)]


# --- sep= line, title lines, no data ---------------------------------------------------------


@pytest.mark.parametrize(("line", "delimiter"), [(b"sep=;", ";"), (b"sep=,", ",")])
def test_an_excel_sep_line_names_the_delimiter(
    app: Flask, client: FlaskClient, editor: Person, rq_worker: subprocess.Popen[bytes],
    line: bytes, delimiter: str,
) -> None:
    content = line + b"\r\n" + billing_csv(ACTS, delimiter=delimiter, encoding="cp1252")
    run, records = _completed(app, client, editor, content)
    assert run.delimiter == delimiter
    assert [(r.row_number, r.code) for r in records] == [(1, "15804"), (2, "19928"), (3, "15804")]
    assert records[0].patient == "TEST00000001 - CÔTÉ, FRANÇOIS"
    assert _findings(app, run.id) == []


def test_ten_title_and_blank_lines_before_the_header_are_skipped(
    app: Flask, client: FlaskClient, editor: Person, rq_worker: subprocess.Popen[bytes]
) -> None:
    titles = ["Facturation journalière", "", "Du 2025-03-01 au 2025-03-31", ";;;",
              "Clinique médicale Test", "", "Agence Test", "Page 1 de 1", "", "Rapport"]
    content = "\r\n".join([*titles, ""]).encode("cp1252") + billing_csv(
        ACTS, delimiter=";", encoding="cp1252")
    run, records = _completed(app, client, editor, content)
    assert [r.row_number for r in records] == [1, 2, 3]
    assert records[1].montant_preliminaire is not None and str(records[1].montant_preliminaire) \
        == "32.40"
    assert _findings(app, run.id) == []


def test_eleven_title_lines_are_refused_at_upload_with_a_hint(
    app: Flask, client: FlaskClient, editor: Person, rq_worker: subprocess.Popen[bytes]
) -> None:
    titles = "".join(f"Titre {n}\r\n" for n in range(11)).encode()
    response = upload_csv(client, editor, titles + billing_csv(ACTS))
    assert response.status_code == 400
    message = response.get_json()["error"]["message"]
    assert message.startswith("Aucune ligne d'en-tête reconnue dans les 11 premières lignes")
    assert "à la ligne 12" in message
    assert _upload_dir_is_empty(app)
    with app.app_context():
        assert db.session.execute(select(ValidationRun)).first() is None


def test_a_header_without_data_completes_with_one_warning(
    app: Flask, client: FlaskClient, editor: Person, rq_worker: subprocess.Popen[bytes]
) -> None:
    run, records = _completed(app, client, editor, billing_csv([], delimiter=";"))
    assert records == [] and run.total_rows == 0
    (finding,) = _findings(app, run.id)
    assert (finding.scenario, finding.severity) == ("no-data", "warning")
    assert finding.message == "Le fichier ne contient aucune ligne de données."
    assert finding.solution
    assert (run.warning_count, run.error_count) == (1, 0)


# --- NUL and undecodable characters ---------------------------------------------------------


@pytest.mark.parametrize("at_row", [1, 1990, 5001])
def test_a_nul_byte_in_a_cell_is_removed_and_reported(
    app: Flask, client: FlaskClient, editor: Person, rq_worker: subprocess.Popen[bytes],
    at_row: int,
) -> None:
    acts = [act(n) for n in range(1, 6001)]
    acts[at_row - 1] = act(at_row, Diagnostic="A0B", **{"Doctor Info": "1234567-12345 | X0Y"})
    content = billing_csv(acts).replace(b"A0B", b"A\x00B").replace(b"X0Y", b"X\x00\x00Y")
    run, records = _completed(app, client, editor, content)
    assert len(records) == 6000
    damaged = records[at_row - 1]
    assert (damaged.row_number, damaged.diagnostic) == (at_row, "AB")
    assert damaged.doctor_info == "1234567-12345 | XY"
    findings = [f for f in _findings(app, run.id) if f.scenario == "invalid-character"]
    assert _scenarios(findings) == [
        ("invalid-character", "warning", [at_row], "Diagnostic"),
        ("invalid-character", "warning", [at_row], "Doctor Info"),
    ]
    # the message names the line a spreadsheet shows: the row plus the header line
    assert findings[0].message.startswith(f"Ligne {at_row + 1} : la colonne « Diagnostic » ")
    assert findings[0].lines == [at_row + 1]
    assert all("AB" not in f.message and "XY" not in f.message for f in findings)


def test_an_undecodable_byte_late_in_a_utf8_file_is_kept_and_reported(
    app: Flask, client: FlaskClient, editor: Person, rq_worker: subprocess.Popen[bytes]
) -> None:
    acts = [act(n) for n in range(1, 3001)]
    acts[2990] = act(2991, Patient="TEST00002991 - GAGN@N, JOSEE")
    content = billing_csv(acts).replace(b"GAGN@N", b"GAGN\xe9N")  # one cp1252 byte
    assert content.index(b"\xe9") > 64 * 1024
    run, records = _completed(app, client, editor, content)
    assert run.encoding == "utf-8"
    assert records[2990].patient == "TEST00002991 - GAGN\ufffdN, JOSEE"
    assert records[0].patient == "TEST00000001 - CÔTÉ, FRANÇOIS"
    assert _scenarios(_findings(app, run.id)) == [
        ("invalid-character", "warning", [2991], "Patient")]


def test_a_replacement_character_already_in_the_file_is_reported(
    app: Flask, client: FlaskClient, editor: Person, rq_worker: subprocess.Popen[bytes]
) -> None:
    content = billing_csv([act(1), act(2, **{"Secteur d'activité": "H\ufffdpital"})])
    run, records = _completed(app, client, editor, content)
    assert records[1].secteur_activite == "H\ufffdpital"
    assert _scenarios(_findings(app, run.id)) == [
        ("invalid-character", "warning", [2], "Secteur d'activité")]


# --- binary content after good rows ---------------------------------------------------------


def _failed_unreadable(run: ValidationRun, last_good: int) -> None:
    assert (run.status, run.attempts, run.error_category) == ("failed", 1, "unreadable-file")
    assert run.error_message is not None
    assert run.error_message.startswith(f"Contenu binaire après la ligne de données {last_good} :")
    assert "erreur technique" not in run.error_message


PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + random.Random(1).randbytes(30_000)
       + b"\x00\x00\x00\x00IEND\xaeB`\x82")


@pytest.mark.parametrize("tail", ["random", "png"])
@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
def test_binary_content_after_good_rows_fails_at_once_naming_the_last_good_row(
    app: Flask, client: FlaskClient, editor: Person, rq_worker: subprocess.Popen[bytes],
    tail: str, encoding: str,
) -> None:
    good = billing_csv([act(n) for n in range(1, 2001)], encoding=encoding, delimiter=";")
    assert len(good) > 64 * 1024  # the upload's sniff sees text only: the worker finds it
    garbage = random.Random(3).randbytes(200_000) if tail == "random" else PNG
    run = _validate(app, client, editor, good + garbage)
    _failed_unreadable(run, 2000)
    assert _records(app, run.id) == []


def test_binary_content_in_the_head_is_refused_at_upload_naming_the_last_good_row(
    app: Flask, client: FlaskClient, editor: Person, rq_worker: subprocess.Popen[bytes]
) -> None:
    response = upload_csv(client, editor, billing_csv(ACTS) + PNG)
    assert response.status_code == 400
    assert response.get_json()["error"]["message"].startswith(
        "Contenu binaire après la ligne de données 3 :")
    assert _upload_dir_is_empty(app)


# --- amounts no bill reaches ----------------------------------------------------------------


def test_an_amount_beyond_any_bill_is_a_row_finding_not_a_failed_run(
    app: Flask, client: FlaskClient, editor: Person, rq_worker: subprocess.Popen[bytes]
) -> None:
    acts = [act(1), act(2, **{"Montant payé": "1 000 000 000 000,00"}),
            act(3, **{"Montant Preliminaire": "99999999999999999999"})]
    run, records = _completed(app, client, editor, billing_csv(acts, delimiter=";"))
    assert [(r.montant_preliminaire is None, r.montant_paye is None) for r in records] == [
        (False, False), (False, True), (True, False)]
    found = [f for f in _findings(app, run.id) if f.scenario == "amount-out-of-range"]
    assert _scenarios(found) == [
        ("amount-out-of-range", "error", [2], "Montant payé"),
        ("amount-out-of-range", "error", [3], "Montant Preliminaire"),
    ]
