"""`GET /metrics`: hidden without its token, Prometheus text that parses back, the rate-limit
state and PostgreSQL read at scrape time, no session, no file name, and cheap: one scrape on
1 000 runs is a fixed handful of SQL statements, whatever the number of runs. Its time is
printed, not asserted; the measured figure is in README.md § Queues and metrics
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, insert

from tests.support.apps import app_for
from validateur import auth, organizations, queue
from validateur.extensions import db
from validateur.models import Phase, Plan, Role, RunStatus, ValidationRun, utcnow

TOKEN = "jeton-de-metriques-de-test"
RUNS = 1_000
STATUSES = [RunStatus.COMPLETED] * 7 + [RunStatus.FAILED, RunStatus.CANCELLED,
                                        RunStatus.QUEUED]


@pytest.fixture(scope="module")
def metrics_app(app: Flask, service_env: dict[str, str]) -> Flask:
    return app_for({**service_env, "VALIDATEUR_METRICS_TOKEN": TOKEN})


@pytest.fixture()
def scrape(metrics_app: Flask) -> Iterator[FlaskClient]:
    with metrics_app.app_context():
        yield metrics_app.test_client()


def _families(body: bytes) -> dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """{family: {(sample name, labels): value}} parsed back by prometheus_client."""
    parsed: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for family in text_string_to_metric_families(body.decode()):
        parsed[family.name] = {(s.name, tuple(sorted(s.labels.items()))): s.value
                               for s in family.samples}
    return parsed


def _bulk_runs(count: int) -> None:
    """`count` runs in one INSERT, statuses cycling, durations of 1 to 100 s."""
    now = utcnow()
    rows = []
    for n in range(count):
        status = STATUSES[n % len(STATUSES)]
        final = status.is_final
        started = now - timedelta(seconds=200 + n)
        rows.append({
            "status": status.value, "phase": (Phase.DONE if final else Phase.QUEUED).value,
            "progress": 100 if final else 0, "file_name": f"patient-{n}.csv",
            "file_size": 10, "total_rows": 10 if status == RunStatus.COMPLETED else 0,
            "created_at": started - timedelta(seconds=5),
            "started_at": started if final else None,
            "finished_at": started + timedelta(seconds=1 + n % 100) if final else None,
            "job_id": f"validation-x{n}",
        })
    db.session.execute(insert(ValidationRun), rows)
    db.session.commit()


#: SQL statements one scrape may run (the collector's aggregates, read at scrape time).
MAX_SCRAPE_STATEMENTS = 3


def test_no_token_configured_is_404(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer x"}).status_code == 404


def test_a_missing_or_wrong_token_is_401_and_no_cookie(scrape: FlaskClient) -> None:
    for headers in ({}, {"Authorization": "Bearer faux"}, {"Authorization": TOKEN}):
        answer = scrape.get("/metrics", headers=headers)
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"] == "Bearer"
        assert "Set-Cookie" not in answer.headers


def test_a_scrape_parses_back_with_every_family_and_stays_cheap(scrape: FlaskClient) -> None:
    clinic = organizations.create("Clinique métrique", Plan.STANDARD, max_parallel=1)
    db.session.commit()
    user, _ = auth.create_user("clerc@metrique.test", Role.EDITOR, organization=clinic)
    _bulk_runs(RUNS)
    waiting = []
    for _ in range(3):  # one admitted (on the queue), two waiting for the clinic's one slot
        run = ValidationRun(user_id=user.id, organization_id=clinic.id, status="queued",
                            phase="queued", file_name="x.csv", queue=queue.queue_names()[1])
        db.session.add(run)
        db.session.commit()
        queue.enqueue_validation(run.id)
        waiting.append(run.id)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    scrape.get("/metrics", headers=headers)  # warm: connections, compiled statements
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        scrape.get("/metrics", headers=headers)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    timings = []
    for _ in range(7):
        started = time.perf_counter()
        answer = scrape.get("/metrics", headers=headers)
        timings.append(time.perf_counter() - started)
    best_ms, median_ms = min(timings) * 1000, statistics.median(timings) * 1000
    print(f"\nscrape of {RUNS + 3} runs: best {best_ms:.1f} ms, median {median_ms:.1f} ms")
    assert answer.status_code == 200
    assert answer.content_type.startswith("text/plain; version=0.0.4")
    assert "Set-Cookie" not in answer.headers
    assert b"patient-" not in answer.data and b"x.csv" not in answer.data
    # One aggregate over the runs, whatever their number (no query per run or organization).
    assert 1 <= len(statements) <= MAX_SCRAPE_STATEMENTS, statements

    found = _families(answer.data)
    base = queue.queue_names()[1]
    assert found["validateur_queue_jobs"][("validateur_queue_jobs", (("queue", base),))] == 1
    assert ("validateur_queue_jobs", (("queue", f"{base}-priority"),)) in found[
        "validateur_queue_jobs"]
    runs = found["validateur_runs"]
    assert runs[("validateur_runs", (("status", "completed"),))] == 700
    assert runs[("validateur_runs", (("status", "queued"),))] == 103
    assert runs[("validateur_runs", (("status", "processing"),))] == 0
    oldest = found["validateur_oldest_queued_run_seconds"]
    assert next(iter(oldest.values())) > 200
    durations = found["validateur_run_duration_seconds"]
    assert durations[("validateur_run_duration_seconds_count", (("status", "completed"),))] == 700
    assert durations[("validateur_run_duration_seconds_bucket",
                      (("le", "+Inf"), ("status", "completed")))] == 700
    rows = found["validateur_rows_processed"]
    assert rows[("validateur_rows_processed_total", ())] == 7000
    assert ("validateur_workers", ()) in found["validateur_workers"]
    deliveries = found["validateur_webhook_deliveries"]
    assert {dict(labels)["state"] for _, labels in deliveries} == {"pending", "delivered",
                                                                    "failed"}
    org = (("organization", str(clinic.id)),)
    assert found["validateur_organization_waiting_jobs"][
        ("validateur_organization_waiting_jobs", org)] == 2
    assert found["validateur_organization_slots_used"][
        ("validateur_organization_slots_used", org)] == 1
    assert found["validateur_organization_max_parallel"][
        ("validateur_organization_max_parallel", org)] == 1
