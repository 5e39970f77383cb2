"""`records.py`: every cell reaches `billing_records` exactly as decoded, whatever it holds."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import text

from tests.csvfiles import act, billing_csv
from validateur import records, runs
from validateur.extensions import db
from validateur.validation.findings import Finding, Severity
from validateur.validation.reader import BillingReader
from validateur.validation.rows import BillingRow

RUN_ID = 987_654


def _copy(app: Flask, rows: list[BillingRow]) -> list[Any]:
    with app.app_context():
        with records.run_transaction(RUN_ID) as writer, writer.copying():
            for start in range(0, len(rows), records.BATCH_ROWS):
                writer.write_batch(rows[start:start + records.BATCH_ROWS])
        stored = db.session.execute(text(
            "SELECT row_number, facture, id_ramq, date_service, debut, fin, periode, "
            "lieu_pratique, secteur_activite, diagnostic, code, unites, role, element_contexte, "
            "montant_preliminaire, montant_paye, doctor_info, patient FROM billing_records "
            "WHERE validation_run_id = :run ORDER BY row_number"), {"run": RUN_ID}).all()
        db.session.execute(text("DELETE FROM billing_records WHERE validation_run_id = :run"),
                           {"run": RUN_ID})
        db.session.commit()
    return [tuple(row) for row in stored]


def _read(tmp_path: Path, content: bytes) -> list[BillingRow]:
    path = tmp_path / "export.csv"
    path.write_bytes(content)
    with BillingReader(path) as reader:
        return list(reader)


def _expected(row: BillingRow) -> tuple[Any, ...]:
    return records.record_values(RUN_ID, row)[1:]


def test_cells_with_what_copy_must_escape_are_stored_exactly(app: Flask, tmp_path: Path) -> None:
    tricky = ["back\\slash", "tab\there", "two\r\nlines", "cr\ronly", "\\N", "lf\nonly",
              "CÔTÉ, FRANÇOIS €", "  spaces  ", "", '"quoted"']
    acts = []
    for i, cell in enumerate(tricky):  # one tricky row per COPY batch, among plain rows
        acts += [act(len(acts) + n) for n in range(records.BATCH_ROWS - 1)]
        acts.append(act(len(acts), Diagnostic=cell, Patient=f"TEST0000000{i} {cell}"))
    rows = _read(tmp_path, billing_csv(acts))
    assert _copy(app, rows) == [_expected(row) for row in rows]
    stored = {row.diagnostic for row in rows}
    assert set(tricky) <= stored


def test_dates_and_amounts_are_typed_and_unreadable_ones_are_null(app: Flask,
                                                                  tmp_path: Path) -> None:
    rows = _read(tmp_path, billing_csv([
        act(1, Date_de_Service="2025/03/10", Montant_Preliminaire="1 234,50 $",
            Montant_payé="(32,40)"),
        act(2, Date_de_Service="2025-13-45", Montant_Preliminaire="abc", Montant_payé=""),
        act(3, Date_de_Service="2025-03-10 00:00:00", Montant_Preliminaire="49.15",
            Montant_payé="0,00"),
    ], delimiter=";"))
    stored = _copy(app, rows)
    assert [(r[3], r[14], r[15]) for r in stored] == [
        (date(2025, 3, 10), Decimal("1234.50"), Decimal("-32.40")),
        (None, None, None),
        (date(2025, 3, 10), Decimal("49.15"), Decimal("0.00")),
    ]


def _write_findings(app: Flask, findings: list[Finding]) -> tuple[Any, list[Any]]:
    with app.app_context():
        run_id = runs.create_run(None, "export.csv", "stored", 1, "utf-8", ",").id
        with records.run_transaction(run_id) as writer:
            totals = writer.write_findings(iter(findings))
        stored = db.session.execute(text(
            "SELECT rule, scenario, severity, message, solution, rows, id_ramq, monetary_impact, "
            "data FROM validation_results WHERE validation_run_id = :run ORDER BY id"),
            {"run": run_id}).all()
    return totals, [tuple(row) for row in stored]


def test_findings_are_stored_exactly_with_arrays_and_json(app: Flask) -> None:
    tricky = Finding(
        "office-fee", "E1", Severity.ERROR, 'Réclamation "12" \\ refusée\tdeux\nlignes\r',
        "Corrigez : 19928 → 19929", rows=(3, 17), id_ramq=("", 'a"b', "c\\d", "e,f", "NULL"),
        monetary_impact=Decimal("-32.4"),
        data={"patient": "TEST****0001", "day": date(2025, 3, 10), "amount": Decimal("49.15"),
              "quote": 'x"y\\z', "nested": {"list": [1, "é"]}},
    )
    plain = [Finding("annual-code", "P1", Severity.INFO, f"Message {n}", rows=(n,),
                     id_ramq=(str(30000000000 + n),), monetary_impact=Decimal("12.5"),
                     data={"n": n}) for n in range(records.BATCH_ROWS + 5)]
    totals, stored = _write_findings(app, [*plain[:3], tricky, *plain[3:]])
    assert len(stored) == len(plain) + 1
    assert stored[3] == (
        "office-fee", "E1", "error", 'Réclamation "12" \\ refusée\tdeux\nlignes\r',
        "Corrigez : 19928 → 19929", [3, 17], ["", 'a"b', "c\\d", "e,f", "NULL"],
        Decimal("-32.40"),
        {"patient": "TEST****0001", "day": "2025-03-10", "amount": "49.15", "quote": 'x"y\\z',
         "nested": {"list": [1, "é"]}},
    )
    assert stored[0] == ("annual-code", "P1", "info", "Message 0", "", [0], ["30000000000"],
                         Decimal("12.50"), {"n": 0})
    assert totals.counts == {"error": 1, "warning": 0, "optimization": 0, "info": len(plain)}
    assert totals.money_at_risk == Decimal("32.40")
    assert totals.potential_gain == Decimal("12.50") * len(plain)


def test_findings_data_with_non_text_keys_is_still_stored(app: Flask) -> None:
    finding = Finding("clinical-minutes", "OVER_LIMIT", Severity.ERROR, "Message",
                      data={"perCode": {8857: 2, "8859": 1}, "day": date(2025, 3, 10)})
    _, stored = _write_findings(app, [finding])
    assert stored[0][-1] == {"perCode": {"8857": 2, "8859": 1}, "day": "2025-03-10"}
