"""PHI stays in PostgreSQL: canary patients, doctors and amounts run through the whole system.

One run completes, one fails, one is cancelled, one upload is refused; then every Redis key
and value (RQ's jobs, registries, failed-job tracebacks, results, limiter counters), every
line the web and worker processes logged, `validation_logs` and the error answers are
searched for the canaries. They may only live in `billing_records` and findings.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from redis import Redis
from sqlalchemy import func, select

from tests.support.api import Person, upload_csv
from tests.support.csvfiles import act, billing_csv
from tests.workers import start_rq_worker, stop, wait_final, wait_for
from validateur.extensions import db
from validateur.models import BillingRecord, ValidationLog
from validateur.stack import free_port, start_web, wait_for_port

pytestmark = pytest.mark.e2e
CANARIES = ["ZQXWCANARYLAST", "ZQXWCANARYFIRST", "ZQXW12345678", "Zephyrincanary", "987654,32",
            "987654.32", "ZQXWCOLUMN"]


def _canary_rows(count: int) -> list[dict[str, str]]:
    return [act(n, Patient="ZQXW12345678 - ZQXWCANARYLAST, ZQXWCANARYFIRST",
                **{"Doctor Info": "7654321-99999 | Zephyrincanary, Jo - Omnipraticien",
                   "Montant Preliminaire": "987654,32", "Montant payé": "987654,32"})
            for n in range(1, count + 1)]


@pytest.fixture(scope="module")
def stack(app: Flask, service_env: dict[str, str],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A gunicorn web process and a worker whose logs we keep."""
    logs = tmp_path_factory.mktemp("phi")
    port = free_port()
    web = start_web(service_env, port, log=logs / "web.log")
    worker = start_rq_worker(service_env, logs / "worker.log", plain=False)
    wait_for_port(port)
    yield logs / "web.log", logs / "worker.log"
    stop(worker)
    stop(web)


def _found_in(blob: bytes) -> list[str]:
    texts = [blob]
    with contextlib.suppress(zlib.error):  # RQ stores job data and tracebacks compressed
        texts.append(zlib.decompress(blob))
    return [c for c in CANARIES for t in texts
            if c.encode() in t or c.encode("cp1252") in t]


def _redis_leaks(url: str) -> list[str]:
    client = Redis.from_url(url)
    leaks: list[str] = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        values: list[bytes] = [key]
        if kind == "string":
            values.append(client.get(key) or b"")
        elif kind == "hash":
            values += [v for pair in client.hgetall(key).items() for v in pair]
        elif kind == "list":
            values += client.lrange(key, 0, -1)
        elif kind == "set":
            values += list(client.smembers(key))
        elif kind == "zset":
            values += client.zrange(key, 0, -1)
        elif kind == "stream":
            values += [v for _, fields in client.xrange(key) for pair in fields.items()
                       for v in pair]
        leaks += [f"{key!r}: {c}" for value in values for c in _found_in(value)]
    return leaks


def test_canaries_never_leave_postgresql(
    app: Flask, editor: Person, service_env: dict[str, str], stack: tuple[Path, Path]
) -> None:
    client = app.test_client()
    answers: list[bytes] = []

    done = upload_csv(client, editor, billing_csv(_canary_rows(50)))
    failing = upload_csv(client, editor, billing_csv(_canary_rows(5)) + b'6,"ZQXWCANARYLAST'
                         + b"x" * 1_500_000)
    big = billing_csv(_canary_rows(60_000), encoding="cp1252", delimiter=";")
    cancelled = upload_csv(client, editor, big)
    run_id = cancelled.get_json()["validationId"]
    wait_for(lambda: client.get(f"/api/validations/{run_id}", headers=editor.headers
                                ).get_json()["status"] != "queued", 60, 0.05)
    answers.append(client.post(f"/api/validations/{run_id}/cancel", headers=editor.headers
                               ).get_data())
    refused = upload_csv(client, editor, billing_csv(
        _canary_rows(1), header=["ZQXWCOLUMN", "ZQXW12345678", "Code"]))
    answers.append(refused.get_data())
    assert refused.status_code == 400

    finals = {wait_final(app, r.get_json()["validationId"]).status
              for r in (done, failing, cancelled)}
    assert finals == {"completed", "failed", "cancelled"}
    for response in (done, failing, cancelled):
        run = response.get_json()["validationId"]
        for path in ("", "/logs"):
            answers.append(client.get(f"/api/validations/{run}{path}",
                                      headers=editor.headers).get_data())
    answers.append(client.get("/api/validations/999999", headers=editor.headers).get_data())

    with app.app_context():  # the canaries really went through: they are where they belong
        stored = db.session.execute(select(func.count()).select_from(BillingRecord).where(
            BillingRecord.patient.like("%ZQXWCANARYLAST%"))).scalar_one()
    assert stored >= 50
    assert Redis.from_url(service_env["REDIS_URL"]).dbsize() > 0
    leaks = _redis_leaks(service_env["REDIS_URL"])
    for log_file in stack:
        leaks += [f"{log_file.name}: {c}" for c in _found_in(log_file.read_bytes())]
    with app.app_context():
        for line in db.session.execute(select(ValidationLog)).scalars():
            text = f"{line.message} {line.metadata_}".encode()
            leaks += [f"validation_logs: {c}" for c in _found_in(text)]
    leaks += [f"answer: {c}" for answer in answers for c in _found_in(answer)]
    assert leaks == []


def test_findings_and_pages_show_patients_masked(
    app: Flask, editor: Person, stack: tuple[Path, Path]
) -> None:
    client = app.test_client()
    rows = [act(1, Code="15815", Patient="ZQXW12345678 - ZQXWCANARYLAST, ZQXWCANARYFIRST"),
            act(2, Code="15815", Patient="ZQXW12345678 - ZQXWCANARYLAST, ZQXWCANARYFIRST",
                **{"Date de Service": "2025-05-05"})]
    run_id = upload_csv(client, editor, billing_csv(rows)).get_json()["validationId"]
    assert wait_final(app, run_id).status == "completed"
    client.post("/login", data={"email": editor.email, "password": editor.password})
    page = client.get(f"/runs/{run_id}").get_data(as_text=True)
    results = client.get(f"/api/validations/{run_id}/results", headers=editor.headers
                         ).get_data(as_text=True)
    export = client.get(f"/api/validations/{run_id}/results.csv", headers=editor.headers
                        ).get_data(as_text=True)
    for shown in (page, results, export):
        assert "ZQXWCANARYLAST" not in shown and "ZQXW12345678" not in shown
    assert "ZQXW****5678" in page


def test_a_name_in_the_claim_column_is_never_shown(
    app: Flask, editor: Person, stack: tuple[Path, Path]
) -> None:
    """A person's name pasted in `ID RAMQ` (issue 12.11): pages, API and export show the
    claim-shaped numbers only, and the structure rule says the cell is not a claim number."""
    rows = [act(1, **{"ID RAMQ": "ZQXWCANARYLAST, ZQXWCANARYFIRST"}),
            act(2, **{"ID RAMQ": "ZQXWCANARYLAST, ZQXWCANARYFIRST"}),
            act(3)]
    client = app.test_client()
    run_id = upload_csv(client, editor, billing_csv(rows)).get_json()["validationId"]
    assert wait_final(app, run_id).status == "completed"
    client.post("/login", data={"email": editor.email, "password": editor.password})
    results = client.get(f"/api/validations/{run_id}/results?limit=200", headers=editor.headers)
    scenarios = {item["scenario"] for item in results.get_json()["items"]}
    assert "invalid-claim" in scenarios
    shown = [client.get(f"/runs/{run_id}").get_data(as_text=True), results.get_data(as_text=True),
             client.get(f"/api/validations/{run_id}/results.csv", headers=editor.headers
                        ).get_data(as_text=True)]
    assert all("ZQXWCANARY" not in text for text in shown)
