"""`records.py`: every cell and finding reaches PostgreSQL exactly, whatever it holds; a delete
or cancel racing an attempt's commit never leaves rows without their run."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from tests.support.csvfiles import act, billing_csv
from tests.support.locks import Beside, waiting_for_a_lock
from tests.support.runs import make_run
from tests.workers import wait_for
from validateur import records, runs
from validateur.extensions import db
from validateur.models import Phase
from validateur.validation.findings import Finding, Severity
from validateur.validation.reader import BillingReader
from validateur.validation.rows import BillingRow

RUN_ID = 987_654


def _store(rows: list[BillingRow]) -> None:
    """One committed attempt of run `RUN_ID` writing `rows` in the job's batches."""
    with records.run_transaction(RUN_ID) as writer, writer.copying():
        for start in range(0, len(rows), records.BATCH_ROWS):
            writer.write_batch(rows[start:start + records.BATCH_ROWS])


def _copy(app: Flask, rows: list[BillingRow]) -> list[Any]:
    with app.app_context():
        _store(rows)
        stored = db.session.execute(text(
            "SELECT row_number, facture, id_ramq, date_service, debut, fin, periode, "
            "lieu_pratique, secteur_activite, diagnostic, code, unites, role, element_contexte, "
            "montant_preliminaire, montant_paye, doctor_info, patient FROM billing_records "
            "WHERE validation_run_id = :run ORDER BY row_number"), {"run": RUN_ID}).all()
        for table in ("billing_rows", "run_practices"):
            db.session.execute(text(f"DELETE FROM {table} WHERE validation_run_id = :run"),
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


def test_a_practice_is_stored_once_per_run_and_read_back_exactly_on_every_row(
        app: Flask, tmp_path: Path) -> None:
    doctors = ["1234567 - Dr. TEST, UN (omni)", "tab\there \\ back", "", "7654321 - É"]
    places = ["50001", "", "9\\9"]
    acts = [act(n, Doctor_Info=doctors[n % 4], Lieu_de_pratique=places[n % 3],
                **{"Secteur d'activité": "Urgence" if n % 2 else "Aucun Secteur"})
            for n in range(1, 1201)]
    rows = _read(tmp_path, billing_csv(acts))
    with app.app_context():
        _store(rows)
        numbered = db.session.execute(text(
            "SELECT doctor_info, lieu_pratique, secteur_activite FROM run_practices"
            " WHERE validation_run_id = :run ORDER BY number"), {"run": RUN_ID}).tuples().all()
        inline = db.session.execute(text(
            "SELECT count(*) FROM billing_rows WHERE validation_run_id = :run AND (practice IS"
            " NULL OR doctor_info || lieu_pratique || secteur_activite <> '')"),
            {"run": RUN_ID}).scalar_one()
        db.session.rollback()
    first_seen = list(dict.fromkeys(
        (row.doctor_info, row.lieu_pratique, row.secteur_activite) for row in rows))
    assert (numbered, inline) == (first_seen, 0)
    assert len(first_seen) == 12  # 4 doctors × 3 places × 2 sectors, paired by n's residues
    assert _copy(app, rows) == [_expected(row) for row in rows]


def test_practices_past_the_numbered_ones_keep_their_texts_on_their_rows(
        app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "MAX_PRACTICES", 3)
    acts = [act(n, Doctor_Info=f"{1000000 + n} - Dr.\tTEST\\{n}") for n in range(1, 8)]
    rows = _read(tmp_path, billing_csv(acts))
    assert _copy(app, rows) == [_expected(row) for row in rows]


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
        run_id = make_run(stored_name="stored")
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


#: Characters that matter to COPY's text format, to array literals and to JSON, and odd ones.
_ODD = ['"', "\\", ",", "{", "}", "\t", "\n", "\r", " ", "'", "NULL", "\\N", "\\.", "é", "€",
        "\u2028", "\ufffd", "\x01", "\x0b", "\x1a", "\x7f", "😀", "a", "7", "()", "$", ";"]


def _odd_text(rng: random.Random, size: int = 6) -> str:
    return "".join(rng.choice(_ODD) for _ in range(rng.randrange(size + 1)))


def test_claim_numbers_with_quotes_and_escapes_survive_copy(app: Flask) -> None:
    """The array literal of `id_ramq`: one quote in one of two claims once broke it."""
    rng = random.Random(7)
    cases = [
        ('a"b', "c"), ('"', ""), ("", '"'), ('x","y',), ('x","y', "z"), ("a\\", '"b'),
        ("{1,2}", "NULL", ""), ('""', '"', '"""'), ("tab\there", "deux\nlignes", "cr\r"),
        ("30000000001",), (), ("30000000001", "30000000002"),
    ]
    cases += [tuple(_odd_text(rng) for _ in range(rng.randrange(1, 5))) for _ in range(300)]
    findings = [Finding("structure", "duplicate-claim", Severity.WARNING, f"Message {n}",
                        id_ramq=claims) for n, claims in enumerate(cases)]
    _, stored = _write_findings(app, findings)
    assert [tuple(row[6]) for row in stored] == cases


def test_every_finding_text_survives_copy(app: Flask) -> None:
    rng = random.Random(11)
    findings = [
        Finding(_odd_text(rng) or "r", _odd_text(rng) or "s", Severity.INFO, _odd_text(rng, 40),
                _odd_text(rng, 40), rows=(n,), id_ramq=(_odd_text(rng),),
                data={_odd_text(rng) or "k": _odd_text(rng, 20), "n": n})
        for n in range(2 * records.BATCH_ROWS + 3)
    ]
    _, stored = _write_findings(app, findings)
    assert [(row[0], row[1], row[3], row[4], list(row[6]), row[8]) for row in stored] == [
        (f.rule, f.scenario, f.message, f.solution, list(f.id_ramq), f.data) for f in findings
    ]


def test_every_row_text_survives_copy(app: Flask) -> None:
    rng = random.Random(5)
    text_fields = [name for name in BillingRow.__slots__
                   if name not in ("row_number", "line", "date_service", "debut", "fin", "unites",
                                   "montant_preliminaire", "montant_paye", "context",
                                   "problems")]  # fmt: skip
    rows = [BillingRow(n, **{name: _odd_text(rng, 12) for name in text_fields})
            for n in range(1, 2 * records.BATCH_ROWS + 3)]
    assert _copy(app, rows) == [_expected(row) for row in rows]


def test_a_nul_reaching_the_writer_is_dropped_not_a_failed_copy(app: Flask) -> None:
    rows = [BillingRow(1, facture="F\x0001", patient="A\x00B", diagnostic="\\\x00")]
    (stored,) = _copy(app, rows)
    assert (stored[1], stored[9], stored[17]) == ("F01", "\\", "AB")


def test_totals_and_impacts_far_beyond_any_file_fit_their_columns(app: Flask) -> None:
    """Row amounts are below 10⁹ $; a run of a billion of them still fits."""
    huge = Decimal("999999999.99") * 2_000_000_000
    finding = Finding("annual-code", "E1", Severity.ERROR, "Message", monetary_impact=-huge)
    totals, stored = _write_findings(app, [finding])
    assert stored[0][7] == -huge and totals.money_at_risk == huge
    with app.app_context():
        run_id = make_run("processing", stored_name="stored")
        completed = runs.Completed(total_rows=1, counts={"error": 1}, potential_gain=huge,
                                   money_at_risk=huge)
        assert runs.finish(run_id, completed, source="worker", line="Traitement terminé")
        assert db.session.execute(text(
            "SELECT potential_gain, money_at_risk FROM validation_runs WHERE id = :id"),
            {"id": run_id}).one() == (huge, huge)


# --- a delete or cancel racing the attempt's commit -----------------------------------------


def _processing_run(app: Flask) -> int:
    with app.app_context():
        run_id = make_run("processing", stored_name="stored", delimiter=";")
    return run_id


def _stored(app: Flask, run_id: int) -> tuple[int, int]:
    with app.app_context():
        found = db.session.execute(text(
            "SELECT (SELECT count(*) FROM billing_records WHERE validation_run_id = :id), "
            "(SELECT count(*) FROM validation_runs WHERE id = :id)"), {"id": run_id}).one()
        db.session.commit()
    return found[0], found[1]


def _cancel_and_clear(run_id: int) -> None:
    """What `lifecycle.cancel_run` does in the database."""
    assert runs.finish(run_id, runs.Cancelled(), source="web", line="Validation annulée")


@pytest.mark.parametrize("action", [runs.delete_run, _cancel_and_clear])
def test_a_delete_or_cancel_after_the_lock_waits_and_removes_the_committed_rows(
    app: Flask, tmp_path: Path, action: Callable[[int], None]
) -> None:
    run_id = _processing_run(app)
    rows = _read(tmp_path, billing_csv([act(n) for n in range(1, 21)]))
    beside = Beside(app, action, run_id)
    with app.app_context():
        with records.run_transaction(run_id) as writer:
            with writer.copying():
                writer.write_batch(rows)
            assert writer.still_processing()
            beside.start()
            wait_for(lambda: waiting_for_a_lock(app) == 1, timeout=10)
            assert beside.is_alive()  # it waits for our commit
        beside.join(10)
    assert not beside.is_alive() and beside.error is None
    expected_runs = 0 if action is runs.delete_run else 1
    assert _stored(app, run_id) == (0, expected_runs)


@pytest.mark.parametrize("action", [runs.delete_run, _cancel_and_clear])
def test_a_delete_or_cancel_before_the_lock_is_seen_and_the_attempt_rolls_back(
    app: Flask, tmp_path: Path, action: Callable[[int], None]
) -> None:
    run_id = _processing_run(app)
    rows = _read(tmp_path, billing_csv([act(n) for n in range(1, 21)]))
    with (app.app_context(), pytest.raises(LookupError),
          records.run_transaction(run_id) as writer):
        with writer.copying():
            writer.write_batch(rows)
        beside = Beside(app, action, run_id)
        beside.start()
        beside.join(10)
        assert not beside.is_alive() and beside.error is None
        if not writer.still_processing():
            raise LookupError("cancelled: the job raises RunCancelled and rolls back")
    assert _stored(app, run_id)[0] == 0


def test_holding_the_run_row_does_not_block_progress_before_it(app: Flask) -> None:
    """Progress is written on another connection while the writer copies (no lock yet)."""
    run_id = _processing_run(app)
    with app.app_context(), records.run_transaction(run_id) as writer:
        writer.clear_previous_attempt()
        beside = Beside(app, lambda i: runs.record_progress(i, Phase.PARSING, 10, 5), run_id)
        beside.start()
        beside.join(10)
        assert not beside.is_alive() and beside.error is None
        assert writer.still_processing()
