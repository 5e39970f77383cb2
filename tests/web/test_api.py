"""The upload and API contract (README.md § API): shapes, statuses, nothing left behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from rq import Queue
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from tests.support.api import Person, upload_csv
from tests.support.csvfiles import act, billing_csv
from validateur import storage
from validateur.extensions import db
from validateur.models import ValidationLog, ValidationRun
from validateur.queue import redis_manager


def _files(app: Flask) -> list[Path]:
    return list(Path(app.config["VALIDATEUR_UPLOAD_DIR"]).iterdir())


def _run_count(app: Flask) -> int:
    with app.app_context():
        return int(db.session.execute(select(func.count()).select_from(ValidationRun)).scalar_one())


def test_upload_answers_202_with_location_and_enqueues_the_run_id_only(
    app: Flask, client: FlaskClient, editor: Person
) -> None:
    response = upload_csv(client, editor, billing_csv([act(1), act(2)]))
    assert response.status_code == 202
    body = response.get_json()
    run_id = body["validationId"]
    assert body == {"validationId": run_id, "status": "queued", "jobId": f"validation-{run_id}"}
    assert response.headers["Location"] == f"/api/validations/{run_id}"
    with app.app_context():
        job = Queue(app.config["VALIDATEUR_QUEUE"], connection=redis_manager().client).fetch_job(
            f"validation-{run_id}"
        )
        assert job is not None
        assert job.args == [run_id] or job.args == (run_id,)
        assert job.kwargs == {}
        assert job.timeout == app.config["VALIDATEUR_JOB_TIMEOUT"]
        assert job.result_ttl == 3600
        assert job.failure_ttl == 24 * 3600
        assert job.retries_left == 3
    stored = _files(app)
    assert len(stored) == 1 and stored[0].name != "facturation.csv"
    assert stored[0].suffix == ".csv" and len(stored[0].stem) == 32


def test_run_json_has_the_contract_fields(client: FlaskClient, editor: Person) -> None:
    run_id = upload_csv(client, editor, billing_csv([act(1)])).get_json()["validationId"]
    body = client.get(f"/api/validations/{run_id}", headers=editor.headers).get_json()
    for key in ("id", "status", "phase", "progress", "fileName", "totalRows", "processedRows",
                "counts", "potentialGain", "errorMessage", "jobId", "attempts", "createdAt",
                "startedAt", "finishedAt"):
        assert key in body
    assert body["counts"] == {"error": 0, "warning": 0, "optimization": 0, "info": 0}
    assert body["fileName"] == "facturation.csv"
    assert (body["status"], body["phase"], body["progress"]) == ("queued", "queued", 0)


def test_list_is_newest_first_and_paginated(client: FlaskClient, editor: Person) -> None:
    ids = [upload_csv(client, editor, billing_csv([act(1)])).get_json()["validationId"]
           for _ in range(3)]
    page = client.get("/api/validations?per_page=2", headers=editor.headers).get_json()
    assert [item["id"] for item in page["items"]] == ids[::-1][:2]
    assert page["total"] == 3
    second = client.get("/api/validations?per_page=2&page=2", headers=editor.headers).get_json()
    assert [item["id"] for item in second["items"]] == [ids[0]]


def _error(response: Any) -> dict[str, str]:
    body = response.get_json()
    assert set(body) == {"error"}, body
    return dict(body["error"])


def test_no_file_is_400_in_french(app: Flask, client: FlaskClient, editor: Person) -> None:
    response = client.post("/api/validations", data={}, headers=editor.headers)
    assert response.status_code == 400
    assert "Aucun fichier" in _error(response)["message"]
    assert _run_count(app) == 0


def test_empty_file_is_400_and_leaves_nothing(app: Flask, client: FlaskClient,
                                              editor: Person) -> None:
    response = upload_csv(client, editor, b"")
    assert response.status_code == 400
    assert "vide" in _error(response)["message"]
    assert _files(app) == [] and _run_count(app) == 0


def test_binary_file_is_400(app: Flask, client: FlaskClient, editor: Person) -> None:
    response = upload_csv(client, editor, b"\x89PNG\r\n\x1a\n\x00\x00\x00" * 50, "image.csv")
    assert response.status_code == 400
    assert _files(app) == [] and _run_count(app) == 0


def test_missing_columns_are_named_in_the_400(app: Flask, client: FlaskClient,
                                              editor: Person) -> None:
    content = b"Facture,ID RAMQ,Code\r\nF1,123,15804\r\n"
    response = upload_csv(client, editor, content)
    assert response.status_code == 400
    message = _error(response)["message"]
    for column in ("Date de Service", "Doctor Info", "Patient", "Montant payé"):
        assert column in message
    assert _files(app) == [] and _run_count(app) == 0


def test_unauthenticated_is_401_json(client: FlaskClient) -> None:
    response = client.post("/api/validations", data={})
    assert response.status_code == 401
    assert _error(response)["code"] == "unauthorized"
    assert client.get("/api/validations").status_code == 401
    bad = client.get("/api/validations", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


def test_viewer_cannot_upload(app: Flask, client: FlaskClient, make_person: Any) -> None:
    viewer = make_person("viewer")
    response = upload_csv(client, viewer, billing_csv([act(1)]))
    assert response.status_code == 403
    assert _files(app) == [] and _run_count(app) == 0


def test_another_users_run_is_404(client: FlaskClient, editor: Person, make_person: Any) -> None:
    run_id = upload_csv(client, editor, billing_csv([act(1)])).get_json()["validationId"]
    other = make_person("editor")
    for path in ("", "/results", "/logs", "/results.csv"):
        response = client.get(f"/api/validations/{run_id}{path}", headers=other.headers)
        assert response.status_code == 404
    assert client.get("/api/validations", headers=other.headers).get_json()["total"] == 0
    admin = make_person("admin")
    assert client.get(f"/api/validations/{run_id}", headers=admin.headers).status_code == 200


def test_unknown_run_is_404_json(client: FlaskClient, editor: Person) -> None:
    response = client.get("/api/validations/999999999", headers=editor.headers)
    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"


def test_too_large_is_413_and_leaves_nothing(app: Flask, client: FlaskClient,
                                             editor: Person) -> None:
    limit = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 10_000
    try:
        content = billing_csv([act(n) for n in range(200)])
        response = upload_csv(client, editor, content)
    finally:
        app.config["MAX_CONTENT_LENGTH"] = limit
    assert response.status_code == 413
    assert "taille maximale" in _error(response)["message"]
    assert _files(app) == [] and _run_count(app) == 0


def test_queue_down_is_503_and_leaves_nothing(app: Flask, client: FlaskClient,
                                              editor: Person) -> None:
    manager = redis_manager_of(app)
    original = manager.url
    manager.close()
    manager.url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        response = upload_csv(client, editor, billing_csv([act(1)]))
    finally:
        manager.close()
        manager.url = original
    assert response.status_code == 503
    assert "indisponible" in _error(response)["message"]
    assert _files(app) == [] and _run_count(app) == 0
    with app.app_context():  # the run's first log line went with it
        assert db.session.execute(select(func.count()).select_from(ValidationLog)).scalar_one() == 0


def test_an_upload_is_one_transaction_without_reloads(app: Flask, client: FlaskClient,
                                                      editor: Person) -> None:
    """Uploads are the API's busiest write: token, run, first log line, one commit.

    The run and its log line are committed together before the enqueue, and nothing is read
    back afterwards (the 202's id, status and job id are the values just written).
    """
    statements: list[str] = []
    commits: list[int] = []

    def note_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.split(None, 1)[0].upper())

    def note_commit(_conn: Any) -> None:
        commits.append(1)

    with app.app_context():
        engine = db.engine
    # The token's first use stamps it (then at most every few minutes): not the upload's cost.
    assert client.get("/api/validations", headers=editor.headers).status_code == 200
    event.listen(engine, "before_cursor_execute", note_statement)
    event.listen(engine, "commit", note_commit)
    try:
        response = upload_csv(client, editor, billing_csv([act(1)]))
    finally:
        event.remove(engine, "before_cursor_execute", note_statement)
        event.remove(engine, "commit", note_commit)
    assert response.status_code == 202
    # token+user (its organization joined), run, job id, log; after the commit, the enqueue
    # reads the run's queue and its organization's cap (not a reload of the run).
    assert statements == ["SELECT", "INSERT", "UPDATE", "INSERT", "SELECT"]
    assert len(commits) == 1
    run_id = response.get_json()["validationId"]
    logs = client.get(f"/api/validations/{run_id}/logs", headers=editor.headers).get_json()
    assert [line["message"] for line in logs["items"]] == ["Fichier reçu et mis en file d'attente"]


def test_database_failing_during_an_upload_is_503_and_leaves_no_file(
    app: Flask, client: FlaskClient, editor: Person
) -> None:
    """The connection drops as the run is inserted: a French 503, no run, no orphan file."""

    def drop_on_run_insert(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO validation_runs"):
            raise OperationalError(statement[:30], None, ConnectionError("connexion perdue"))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", drop_on_run_insert)
    try:
        response = upload_csv(client, editor, billing_csv([act(1)]))
    finally:
        event.remove(engine, "before_cursor_execute", drop_on_run_insert)
    assert response.status_code == 503
    assert "indisponible" in _error(response)["message"]
    assert _files(app) == [] and _run_count(app) == 0


def redis_manager_of(app: Flask) -> Any:
    return app.extensions["validateur.redis"]


def test_health_reports_database_and_redis(client: FlaskClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["database"] == "ok" and body["redis"] == "ok"
    assert isinstance(body["workers"], int)


def test_health_is_503_when_redis_is_down(app: Flask, client: FlaskClient) -> None:
    manager = redis_manager_of(app)
    original = manager.url
    manager.close()
    manager.url = "redis://127.0.0.1:1/0"
    try:
        response = client.get("/api/health")
    finally:
        manager.close()
        manager.url = original
    assert response.status_code == 503
    assert response.get_json()["redis"] == "down"


def test_bad_query_parameters_are_400(client: FlaskClient, editor: Person) -> None:
    run_id = upload_csv(client, editor, billing_csv([act(1)])).get_json()["validationId"]
    response = client.get(f"/api/validations/{run_id}/results?severity=grave",
                          headers=editor.headers)
    assert response.status_code == 400
    assert client.get("/api/validations?page=0", headers=editor.headers).status_code == 400


def test_a_multi_megabyte_upload_is_stored_byte_for_byte(app: Flask, client: FlaskClient,
                                                         editor: Person) -> None:
    """Bodies far larger than one multipart read (and than MAX_FORM_MEMORY_SIZE) stream."""
    content = billing_csv([act(n) for n in range(1, 20_001)], delimiter=";")
    assert len(content) > 8 * storage.UPLOAD_READ_BYTES
    response = upload_csv(client, editor, content)
    assert response.status_code == 202
    (stored,) = _files(app)
    assert stored.read_bytes() == content


BIGINT_MAX = 2**63 - 1
OUT_OF_RANGE_IDS = ("0", "-1", "00", "012", str(BIGINT_MAX + 1), "9" * 30, "1e3", "%D9%A3")
RUN_ROUTES = (("GET", ""), ("GET", "/results"), ("GET", "/results.csv"), ("GET", "/logs"),
              ("POST", "/cancel"), ("DELETE", ""))


def test_run_ids_outside_bigint_are_404_before_the_database(
    app: Flask, client: FlaskClient, editor: Person
) -> None:
    """Ids the bigint column cannot hold never reach PostgreSQL: the route does not match."""
    statements: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    for raw in OUT_OF_RANGE_IDS:
        for method, tail in RUN_ROUTES:
            client.get("/api/validations", headers=editor.headers)  # user loaded, then listen
            event.listen(engine, "before_cursor_execute", note)
            try:
                response = client.open(f"/api/validations/{raw}{tail}", method=method,
                                       headers=editor.headers)
            finally:
                event.remove(engine, "before_cursor_execute", note)
            assert response.status_code == 404, (raw, method, tail)
            assert _error(response) == {"code": "not_found", "message": "Ressource introuvable."}
            assert not [s for s in statements if "validation_runs" in s], (raw, tail)
            statements.clear()
    biggest = client.get(f"/api/validations/{BIGINT_MAX}", headers=editor.headers)
    assert biggest.status_code == 404 and _error(biggest)["code"] == "not_found"


def test_pages_out_of_range_are_400_in_french(client: FlaskClient, editor: Person) -> None:
    run_id = upload_csv(client, editor, billing_csv([act(1)])).get_json()["validationId"]
    for path in ("/api/validations", f"/api/validations/{run_id}/results",
                 f"/api/validations/{run_id}/results.csv"):
        for query in (f"page={BIGINT_MAX}", "page=0", "page=-3", "page=abc", "page=1.5",
                      "per_page=0", "per_page=501", f"per_page={BIGINT_MAX}", "page=" + "9" * 5000):
            response = client.get(f"{path}?{query}", headers=editor.headers)
            assert response.status_code == 400, (path, query)
            error = _error(response)
            assert error["code"] == "invalid_parameters"
            assert error["message"].startswith("Paramètre invalide : « ")
            assert ("« page »" in error["message"]) == query.startswith("page"), error
    last = client.get("/api/validations?page=10000000&per_page=500", headers=editor.headers)
    assert last.status_code == 200 and last.get_json()["items"] == []


def test_control_characters_in_filters_are_400(client: FlaskClient, editor: Person) -> None:
    run_id = upload_csv(client, editor, billing_csv([act(1)])).get_json()["validationId"]
    cases = [("/api/validations", "q"), ("/api/validations", "status"),
             (f"/api/validations/{run_id}/results", "rule"),
             (f"/api/validations/{run_id}/results", "severity"),
             (f"/api/validations/{run_id}/results.csv", "rule"),
             (f"/api/validations/{run_id}/results.csv", "severity")]
    for path, name in cases:
        for bad in ("%00", "a%00b", "error%00", "office-fee%0A", "%1B[31m", "%7F", "%C2%85"):
            response = client.get(f"{path}?{name}={bad}", headers=editor.headers)
            assert response.status_code == 400, (path, name, bad)
            assert f"« {name} »" in _error(response)["message"]
    too_long = client.get("/api/validations?q=" + "a" * 256, headers=editor.headers)
    assert too_long.status_code == 400


def test_list_filters_by_status_and_part_of_the_file_name(
    app: Flask, client: FlaskClient, editor: Person, make_person: Any
) -> None:
    names = ["facturation-mars.csv", "Facturation-AVRIL.csv", "autre_100%.csv", "autreX100.csv"]
    ids = {name: upload_csv(client, editor, billing_csv([act(1)]), name).get_json()["validationId"]
           for name in names}
    with app.app_context():
        run = db.session.get(ValidationRun, ids["Facturation-AVRIL.csv"])
        run.status = "failed"
        db.session.commit()

    def listed(query: str, person: Person = editor) -> list[str]:
        response = client.get(f"/api/validations?{query}", headers=person.headers)
        assert response.status_code == 200, response.get_json()
        return sorted(item["fileName"] for item in response.get_json()["items"])

    assert listed("q=facturation") == ["Facturation-AVRIL.csv", "facturation-mars.csv"]
    assert listed("q=MARS") == ["facturation-mars.csv"]
    assert listed("status=failed") == ["Facturation-AVRIL.csv"]
    assert listed("status=queued&q=factur") == ["facturation-mars.csv"]
    assert listed("q=100%25") == ["autre_100%.csv"]  # % and _ are letters, not wildcards
    assert listed("q=e_1") == ["autre_100%.csv"]
    assert listed("status=&q=") == sorted(names)
    assert listed("status=completed") == []
    bad = client.get("/api/validations?status=done", headers=editor.headers)
    assert bad.status_code == 400 and "« status »" in _error(bad)["message"]
    other = make_person("editor")
    assert listed("q=facturation", other) == []
    admin = make_person("admin")
    assert listed("q=mars", admin) == ["facturation-mars.csv"]


def test_runs_carry_their_owners_email(client: FlaskClient, editor: Person,
                                       make_person: Any) -> None:
    run_id = upload_csv(client, editor, billing_csv([act(1)])).get_json()["validationId"]
    admin = make_person("admin")
    listed = client.get("/api/validations", headers=admin.headers).get_json()["items"]
    assert [(item["id"], item["owner"]) for item in listed] == [(run_id, editor.email)]
    one = client.get(f"/api/validations/{run_id}", headers=admin.headers).get_json()
    assert one["owner"] == editor.email


def test_the_run_id_pattern_is_exactly_one_to_bigint_max() -> None:
    import random
    import re

    from validateur.web.access import MAX_RUN_ID, RunIdConverter, at_most

    pattern = re.compile(RunIdConverter.regex)
    for number in (1, 9, 10, 99, 10**18 - 1, 10**18, MAX_RUN_ID - 1, MAX_RUN_ID):
        assert pattern.fullmatch(str(number)), number
    for text in ("0", "-1", "01", "", str(MAX_RUN_ID + 1), str(10**19), "1.0", "\u0663"):
        assert not pattern.fullmatch(text), text
    draw = random.Random(7)
    for limit in (1, 7, 10, 250, 1000, 4096, 90_001):
        small = re.compile(at_most(limit))
        for number in [*range(0, 1200), *(draw.randrange(2 * limit + 2) for _ in range(3000))]:
            assert bool(small.fullmatch(str(number))) == (1 <= number <= limit), (limit, number)
