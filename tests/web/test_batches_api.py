"""POST /api/batches and the batch JSON (README.md § API): without a worker."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.support.api import Person, upload_csv
from tests.support.batches import upload_batch, zip_of
from tests.support.csvfiles import act, billing_csv
from validateur.extensions import db
from validateur.models import Batch, ValidationLog, ValidationRun

GOOD = billing_csv([act(1), act(2)])


def _files(app: Flask) -> list[Path]:
    return list(Path(app.config["VALIDATEUR_UPLOAD_DIR"]).iterdir())


def _count(app: Flask, model: Any) -> int:
    with app.app_context():
        return int(db.session.execute(select(func.count()).select_from(model)).scalar_one())


def _nothing_left(app: Flask) -> None:
    assert _files(app) == []
    assert (_count(app, ValidationRun), _count(app, Batch), _count(app, ValidationLog)) == (0, 0, 0)


def _error(response: Any) -> dict[str, str]:
    body = response.get_json()
    assert set(body) == {"error"}, body
    return dict(body["error"])


def test_three_files_make_one_batch_of_three_ordinary_runs(
        app: Flask, client: FlaskClient, editor: Person) -> None:
    response = upload_batch(client, editor, [(GOOD, "a.csv"), (GOOD, "b.csv"), (GOOD, "c.csv")])
    assert response.status_code == 202
    body = response.get_json()
    batch_id = body["batchId"]
    assert response.headers["Location"] == f"/api/batches/{batch_id}"
    assert body["status"] == "queued" and body["rejected"] == []
    assert [r["fileName"] for r in body["runs"]] == ["a.csv", "b.csv", "c.csv"]
    assert {r["status"] for r in body["runs"]} == {"queued"}
    run_id = body["runs"][0]["validationId"]
    run = client.get(f"/api/validations/{run_id}", headers=editor.headers).get_json()
    assert run["batchId"] == batch_id and run["jobId"] == f"validation-{run_id}"
    batch = client.get(f"/api/batches/{batch_id}", headers=editor.headers).get_json()
    assert batch["status"] == "queued" and batch["fileCount"] == 3
    assert batch["counts"] == {"queued": 3, "processing": 0, "completed": 0, "failed": 0,
                               "cancelled": 0}
    assert batch["totals"] == {"rows": 0, "error": 0, "warning": 0, "optimization": 0,
                               "info": 0, "potentialGain": "0.00", "moneyAtRisk": "0.00"}
    assert [r["fileName"] for r in batch["runs"]] == ["a.csv", "b.csv", "c.csv"]
    assert batch["finishedAt"] is None and batch["createdAt"]
    assert len(_files(app)) == 3
    listed = client.get(f"/api/validations?batch={batch_id}", headers=editor.headers).get_json()
    assert listed["total"] == 3
    upload_csv(client, editor, GOOD)  # a single upload belongs to no batch
    assert client.get("/api/validations", headers=editor.headers).get_json()["total"] == 4
    batches = client.get("/api/batches", headers=editor.headers).get_json()
    assert [b["id"] for b in batches["items"]] == [batch_id] and batches["total"] == 1


def test_a_bad_file_among_good_ones_is_listed_and_the_others_go_on(
        app: Flask, client: FlaskClient, editor: Person) -> None:
    response = upload_batch(client, editor, [(GOOD, "bon.csv"), (b"", "vide.csv"),
                                             (b"\x89PNG\r\n\x1a\n\x00" * 40, "image.csv")])
    assert response.status_code == 202
    body = response.get_json()
    assert [r["fileName"] for r in body["runs"]] == ["bon.csv"]
    assert [(r["fileName"], r["error"]["code"]) for r in body["rejected"]] == [
        ("vide.csv", "empty_file"), ("image.csv", "unusable_file")]
    assert "vide" in body["rejected"][0]["error"]["message"]
    assert len(_files(app)) == 1 and _count(app, ValidationRun) == 1


def test_none_accepted_is_400_and_leaves_nothing(app: Flask, client: FlaskClient,
                                                 editor: Person) -> None:
    response = upload_batch(client, editor, [(b"", "vide.csv"), (b"a,b\r\n1,2\r\n", "x.csv")])
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "nothing_accepted"
    assert "Aucun fichier du lot" in error["message"] and "« vide.csv »" in error["message"]
    _nothing_left(app)


def test_no_files_field_is_400(app: Flask, client: FlaskClient, editor: Person) -> None:
    response = client.post("/api/batches", data={}, headers=editor.headers)
    assert response.status_code == 400 and "files" in _error(response)["message"]


def test_more_than_the_maximum_is_400_and_leaves_nothing(app: Flask, client: FlaskClient,
                                                         editor: Person) -> None:
    app.config["VALIDATEUR_BATCH_MAX_FILES"] = 3
    try:
        response = upload_batch(client, editor, [(GOOD, f"{n}.csv") for n in range(3)]
                                + [(zip_of({"x.csv": GOOD}), "plus.zip")])
    finally:
        app.config["VALIDATEUR_BATCH_MAX_FILES"] = 20
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "too_many_files"
    assert "au plus 3 fichiers" in error["message"] and "en compte 4" in error["message"]
    _nothing_left(app)


def test_the_default_maximum_is_twenty(app: Flask) -> None:
    assert app.config["VALIDATEUR_BATCH_MAX_FILES"] == 20


def test_a_zip_counts_as_its_csv_files(app: Flask, client: FlaskClient, editor: Person) -> None:
    archive = zip_of({"janvier.csv": GOOD, "dossier/février.csv": GOOD, "dossier/": b"",
                      "__MACOSX/._janvier.csv": b"junk", ".DS_Store": b"junk",
                      "notes.txt": b"hello", "interne.zip": zip_of({"z.csv": GOOD}),
                      "../evasion.csv": GOOD})
    response = upload_batch(client, editor, [(archive, "mars.zip"), (GOOD, "seul.csv")])
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert [r["fileName"] for r in body["runs"]] == ["janvier.csv", "février.csv", "seul.csv"]
    rejected = {r["fileName"]: r["error"]["message"] for r in body["rejected"]}
    assert set(rejected) == {"notes.txt", "interne.zip", "evasion.csv"}
    assert "pas un fichier CSV" in rejected["notes.txt"]
    assert "pas un fichier CSV" in rejected["interne.zip"]
    assert "chemin" in rejected["evasion.csv"]
    assert len(_files(app)) == 3  # the archive itself is gone, its CSV files are runs


def test_a_zip_bomb_is_refused_without_inflating_it(app: Flask, client: FlaskClient,
                                                    editor: Person) -> None:
    """40 MB of zeros compress to ~40 kB (ratio ~1000): refused from its header."""
    bomb = zip_of({"bombe.csv": b"0" * 40_000_000, "bon.csv": GOOD})
    assert len(bomb) < 100_000
    response = upload_batch(client, editor, [(bomb, "lot.zip")])
    assert response.status_code == 202
    body = response.get_json()
    assert [r["fileName"] for r in body["runs"]] == ["bon.csv"]
    [refused] = body["rejected"]
    assert refused["fileName"] == "bombe.csv" and "100 fois" in refused["error"]["message"]
    assert len(_files(app)) == 1


def test_inflating_past_the_upload_limit_is_413_and_leaves_nothing(
        app: Flask, client: FlaskClient, editor: Person) -> None:
    """Each member under the ratio check, together over VALIDATEUR_MAX_UPLOAD_MB."""
    app.config["VALIDATEUR_MAX_UPLOAD_MB"] = 1
    try:
        rows = billing_csv([act(n) for n in range(3500)])  # ~0.7 MB each
        response = upload_batch(client, editor, [(zip_of({"a.csv": rows, "b.csv": rows}),
                                                  "lot.zip")])
    finally:
        app.config["VALIDATEUR_MAX_UPLOAD_MB"] = 300
    assert response.status_code == 413, response.get_json()
    assert "taille maximale" in _error(response)["message"]
    _nothing_left(app)


def test_a_member_lying_about_its_size_is_cut_at_the_limit(
        app: Flask, client: FlaskClient, editor: Person) -> None:
    """The header says 10 bytes; reading is bounded anyway (zipfile stops at the declared
    size and the CRC check refuses the member)."""
    archive = bytearray(zip_of({"menteur.csv": GOOD * 50, "bon.csv": GOOD}))
    with zipfile.ZipFile(__import__("io").BytesIO(bytes(archive))) as parsed:
        info = parsed.getinfo("menteur.csv")
    # Patch the declared uncompressed size in the local header and the central directory.
    size = info.file_size.to_bytes(4, "little")
    archive = archive.replace(size, (10).to_bytes(4, "little"))
    response = upload_batch(client, editor, [(bytes(archive), "lot.zip")])
    assert response.status_code == 202
    body = response.get_json()
    assert [r["fileName"] for r in body["runs"]] == ["bon.csv"]
    assert [r["fileName"] for r in body["rejected"]] == ["menteur.csv"]
    assert len(_files(app)) == 1


def test_an_unreadable_zip_is_rejected_by_name(app: Flask, client: FlaskClient,
                                               editor: Person) -> None:
    response = upload_batch(client, editor, [(b"PK\x03\x04 pas une archive", "cassé.zip"),
                                             (GOOD, "bon.csv")])
    assert response.status_code == 202
    [refused] = response.get_json()["rejected"]
    assert refused["fileName"] == "cassé.zip" and "illisible" in refused["error"]["message"]


def test_a_member_in_an_unsupported_compression_is_rejected_by_name(
        app: Flask, client: FlaskClient, editor: Person) -> None:
    """zipfile raises NotImplementedError for a method it cannot inflate (99: AES, say):
    an input problem (`archives.MEMBER_UNREADABLE`), never a 500."""
    archive = bytearray(zip_of({"chiffré.csv": GOOD, "bon.csv": GOOD},
                               compression=zipfile.ZIP_STORED))
    local = archive.find(b"PK\x03\x04")  # the first member's local header...
    central = archive.find(b"PK\x01\x02")  # ...and its central directory entry
    archive[local + 8:local + 10] = (99).to_bytes(2, "little")
    archive[central + 10:central + 12] = (99).to_bytes(2, "little")
    response = upload_batch(client, editor, [(bytes(archive), "lot.zip")])
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert [r["fileName"] for r in body["runs"]] == ["bon.csv"]
    [refused] = body["rejected"]
    assert refused["fileName"] == "chiffré.csv"
    assert "compression non prise en charge" in refused["error"]["message"]
    assert len(_files(app)) == 1


def test_unauthenticated_viewer_and_rate_limited_leave_nothing(
        app: Flask, client: FlaskClient, make_person: Any) -> None:
    files = [(GOOD, "a.csv"), (GOOD, "b.csv")]
    assert upload_batch(client, None, files).status_code == 401
    assert upload_batch(client, make_person("viewer"), files).status_code == 403
    _nothing_left(app)
    app.config["VALIDATEUR_UPLOAD_RATE_LIMIT"] = "1/minute"
    try:
        editor = make_person("editor")
        assert upload_batch(client, editor, files).status_code == 202
        response = upload_batch(client, editor, files)
    finally:
        app.config["VALIDATEUR_UPLOAD_RATE_LIMIT"] = "30/minute"
    assert response.status_code == 429
    assert _count(app, Batch) == 1 and _count(app, ValidationRun) == 2 and len(_files(app)) == 2


def test_queue_down_is_503_and_leaves_nothing(app: Flask, client: FlaskClient,
                                              editor: Person) -> None:
    manager = app.extensions["validateur.redis"]
    original = manager.url
    manager.close()
    manager.url = "redis://127.0.0.1:1/0"
    try:
        response = upload_batch(client, editor, [(GOOD, "a.csv"), (GOOD, "b.csv")])
    finally:
        manager.close()
        manager.url = original
    assert response.status_code == 503
    assert "indisponible" in _error(response)["message"]
    _nothing_left(app)


def test_too_large_request_is_413_and_leaves_nothing(app: Flask, client: FlaskClient,
                                                     editor: Person) -> None:
    limit = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 10_000
    try:
        big = billing_csv([act(n) for n in range(200)])
        response = upload_batch(client, editor, [(GOOD, "a.csv"), (big, "b.csv")])
    finally:
        app.config["MAX_CONTENT_LENGTH"] = limit
    assert response.status_code == 413
    _nothing_left(app)


def test_another_organizations_batch_is_404(client: FlaskClient, editor: Person,
                                            make_person: Any) -> None:
    batch_id = upload_batch(client, editor, [(GOOD, "a.csv")]).get_json()["batchId"]
    other = make_person("editor")
    for path in (f"/api/batches/{batch_id}", f"/api/batches/{batch_id}/results.csv"):
        assert client.get(path, headers=other.headers).status_code == 404
    assert client.post(f"/api/batches/{batch_id}/cancel",
                       headers=other.headers).status_code == 404
    assert client.get("/api/batches", headers=other.headers).get_json()["total"] == 0
    admin = make_person("admin")
    assert client.get(f"/api/batches/{batch_id}", headers=admin.headers).status_code == 200


def test_cancel_cancels_every_open_run_then_409(app: Flask, client: FlaskClient,
                                                editor: Person) -> None:
    batch_id = upload_batch(client, editor, [(GOOD, "a.csv"), (GOOD, "b.csv")]).get_json()[
        "batchId"]
    response = client.post(f"/api/batches/{batch_id}/cancel", headers=editor.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "cancelled" and body["counts"]["cancelled"] == 2
    assert body["finishedAt"] is not None
    assert _files(app) == []
    again = client.post(f"/api/batches/{batch_id}/cancel", headers=editor.headers)
    assert again.status_code == 409 and "déjà terminé" in _error(again)["message"]
