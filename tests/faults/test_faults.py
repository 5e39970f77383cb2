"""Never lose or duplicate a run: killed work-horses and workers, deploys, outages, cancel.

Real `validateur worker` processes, a Redis server this module owns, the session's
PostgreSQL. Every scenario checks the end state a user relies on: one final status, exactly
as many `billing_records` rows as the file has data rows, no file left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from rq.job import Job
from rq.scheduler import RQScheduler
from sqlalchemy import func, select, text

from tests.faults.servers import paused
from tests.support.api import Person, upload_csv
from tests.support.csvfiles import act, billing_csv, sample_file
from tests.support.runs import fresh_run
from tests.workers import wait_final, wait_for
from validateur.extensions import db
from validateur.models import BillingRecord, ValidationLog, ValidationRun
from validateur.stack import EmbeddedRedis

pytestmark = pytest.mark.e2e
BIG_ROWS = 150_000
Workers = Callable[[], subprocess.Popen[bytes]]


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = sample_file(tmp_path_factory.mktemp("big") / "big.csv", BIG_ROWS)
    return path.read_bytes()


@pytest.fixture()
def client(fault_app: Flask) -> FlaskClient:
    return fault_app.test_client()


def _upload(client: FlaskClient, person: Person, content: bytes) -> int:
    response = upload_csv(client, person, content)
    assert response.status_code == 202, response.get_json()
    run_id: int = response.get_json()["validationId"]
    return run_id


def _row_count(app: Flask, run_id: int) -> int:
    with app.app_context():
        return int(db.session.execute(
            select(func.count()).select_from(BillingRecord)
            .where(BillingRecord.validation_run_id == run_id)
        ).scalar_one())


def _wait_rows_flowing(app: Flask, run_id: int) -> None:
    wait_for(lambda: fresh_run(app, run_id).processed_rows > 0, 60, 0.05)


def _running(app: Flask, client: FlaskClient, editor: Person, workers: Workers,
             content: bytes) -> int:
    """A worker, an upload, and rows already flowing: the moment to inject a fault."""
    workers()
    run_id = _upload(client, editor, content)
    _wait_rows_flowing(app, run_id)
    return run_id


def _horse_pid(app: Flask, run_id: int) -> int:
    """The work-horse running the run, from the job's meta (numbers only)."""
    with app.app_context():
        from validateur.queue import redis_manager

        job = Job.fetch(f"validation-{run_id}", connection=redis_manager().client)
        pid: int = job.get_meta(refresh=True)["pid"]
        return pid


def _wait_workers(app: Flask, count: int) -> None:
    from rq import Worker

    from validateur.queue import redis_manager

    with app.app_context():
        connection = redis_manager().client
        wait_for(lambda: Worker.count(connection=connection) >= count, 30)


def _uploads_empty(app: Flask) -> bool:
    return not any(Path(app.config["VALIDATEUR_UPLOAD_DIR"]).iterdir())


def _assert_completed_once(app: Flask, run_id: int, rows: int) -> ValidationRun:
    run = wait_final(app, run_id, timeout=120)
    assert run.status == "completed", run.error_message
    assert _row_count(app, run_id) == rows == run.total_rows
    assert _uploads_empty(app)
    return run


def test_killed_work_horse_is_retried_and_completes_with_exactly_one_copy(
    fault_app: Flask, client: FlaskClient, editor: Person, workers: Workers, big_file: bytes
) -> None:
    run_id = _running(fault_app, client, editor, workers, big_file)
    os.kill(_horse_pid(fault_app, run_id), signal.SIGKILL)
    run = _assert_completed_once(fault_app, run_id, BIG_ROWS)
    assert run.attempts == 2


def test_sigterm_lets_a_short_job_finish_then_the_worker_exits(
    fault_app: Flask, client: FlaskClient, editor: Person, workers: Workers
) -> None:
    worker = workers()
    run_id = _upload(client, editor, billing_csv([act(n) for n in range(1, 2001)]))
    wait_for(lambda: fresh_run(fault_app, run_id).status != "queued", 30, 0.02)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    run = _assert_completed_once(fault_app, run_id, 2000)
    assert run.attempts == 1


def test_sigterm_hands_an_unfinished_job_back_to_the_queue(
    fault_app: Flask, client: FlaskClient, editor: Person, workers: Workers, big_file: bytes
) -> None:
    """Grace is 2 s in these tests; the horse, caught while its rows flow, is stopped
    (SIGSTOP) before the SIGTERM, so its job cannot finish in time however fast the machine
    is. The worker SIGKILLs it when the grace is over: the rows it sent roll back."""
    worker = workers()
    run_id = _upload(client, editor, big_file)
    _wait_rows_flowing(fault_app, run_id)
    with paused([psutil.Process(_horse_pid(fault_app, run_id))]):
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    assert fresh_run(fault_app, run_id).status == "queued"
    assert _row_count(fault_app, run_id) == 0
    workers()
    run = _assert_completed_once(fault_app, run_id, BIG_ROWS)
    assert run.attempts == 2


def test_database_connection_lost_mid_job_is_retried(
    fault_app: Flask, client: FlaskClient, editor: Person, workers: Workers, big_file: bytes
) -> None:
    run_id = _running(fault_app, client, editor, workers, big_file)
    with fault_app.app_context():
        db.session.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ))
        db.session.commit()
    run = _assert_completed_once(fault_app, run_id, BIG_ROWS)
    assert run.attempts >= 2
    with fault_app.app_context():
        failures = db.session.execute(
            select(ValidationLog.metadata_).where(ValidationLog.validation_run_id == run_id,
                                                  ValidationLog.message == "Échec de la tentative")
        ).scalars().all()
    assert failures and failures[0]["exception"] in {"OperationalError", "AdminShutdown"}


def test_redis_outage_answers_503_reads_work_and_workers_reconnect(
    fault_app: Flask, client: FlaskClient, editor: Person, workers: Workers,
    own_redis: EmbeddedRedis
) -> None:
    workers()
    done = _upload(client, editor, billing_csv([act(1)]))
    _assert_completed_once(fault_app, done, 1)
    own_redis.stop()
    try:
        refused = upload_csv(client, editor, billing_csv([act(1)]))
        assert refused.status_code == 503
        assert "indisponible" in refused.get_json()["error"]["message"]
        assert _uploads_empty(fault_app)
        with fault_app.app_context():
            assert db.session.execute(select(func.count()).select_from(ValidationRun)
                                      ).scalar_one() == 1
        assert client.get(f"/api/validations/{done}", headers=editor.headers).status_code == 200
        assert client.get("/api/validations", headers=editor.headers).status_code == 200
        health = client.get("/api/health")
        assert health.status_code == 503 and health.get_json()["redis"] == "down"
    finally:
        own_redis.start()
    after = _upload(client, editor, billing_csv([act(n) for n in range(1, 11)]))
    _assert_completed_once(fault_app, after, 10)


def test_cancelling_a_queued_run_cancels_its_job_and_removes_its_file(
    fault_app: Flask, client: FlaskClient, editor: Person
) -> None:
    run_id = _upload(client, editor, billing_csv([act(1)]))
    response = client.post(f"/api/validations/{run_id}/cancel", headers=editor.headers)
    assert response.status_code == 200 and response.get_json()["status"] == "cancelled"
    assert _uploads_empty(fault_app)
    with fault_app.app_context():
        from validateur.queue import get_queue, redis_manager

        queue = get_queue()
        assert f"validation-{run_id}" not in queue.job_ids
        job = Job.fetch(f"validation-{run_id}", connection=redis_manager().client)
        assert job.get_status() == "canceled"
        assert job.id in queue.canceled_job_registry.get_job_ids()
    again = client.post(f"/api/validations/{run_id}/cancel", headers=editor.headers)
    assert again.status_code == 409


def test_cancelling_a_running_run_stops_it_and_removes_its_rows(
    fault_app: Flask, client: FlaskClient, editor: Person, workers: Workers, big_file: bytes
) -> None:
    run_id = _running(fault_app, client, editor, workers, big_file)
    response = client.post(f"/api/validations/{run_id}/cancel", headers=editor.headers)
    assert response.get_json()["status"] == "cancelled"
    with fault_app.app_context():
        from validateur.queue import get_queue, redis_manager

        job = Job.fetch(f"validation-{run_id}", connection=redis_manager().client)
        wait_for(lambda: job.get_status(refresh=True) == "canceled", 30)
        assert job.id not in get_queue().failed_job_registry.get_job_ids()
    assert fresh_run(fault_app, run_id).status == "cancelled"
    assert _row_count(fault_app, run_id) == 0
    assert _uploads_empty(fault_app)
    after = _upload(client, editor, billing_csv([act(1)]))
    _assert_completed_once(fault_app, after, 1)


def test_failure_callback_fails_the_run_once_retries_are_spent(
    fault_app: Flask, client: FlaskClient, editor: Person
) -> None:
    from jobs.callbacks import on_validation_failure
    from validateur.errors import JobFailed
    from validateur.queue import redis_manager

    run_id = _upload(client, editor, billing_csv([act(1)]))
    with fault_app.app_context():
        job = Job.fetch(f"validation-{run_id}", connection=redis_manager().client)
    lost = JobFailed(run_id, psycopg.OperationalError("server closed the connection"))
    job.retries_left = 1
    on_validation_failure(job, None, JobFailed, lost, None)
    assert fresh_run(fault_app, run_id).status == "queued"
    job.retries_left = 0
    on_validation_failure(job, None, JobFailed, lost, None)
    run = fresh_run(fault_app, run_id)
    assert run.status == "failed" and "plusieurs tentatives" in (run.error_message or "")
    assert _uploads_empty(fault_app)


def test_a_bug_is_not_retried(fault_app: Flask, client: FlaskClient, editor: Person) -> None:
    from jobs.callbacks import on_validation_failure
    from validateur.errors import JobFailed
    from validateur.queue import redis_manager

    run_id = _upload(client, editor, billing_csv([act(1)]))
    with fault_app.app_context():
        job = Job.fetch(f"validation-{run_id}", connection=redis_manager().client)
    job.retries_left = 3
    on_validation_failure(job, None, JobFailed, JobFailed(run_id, KeyError("facture")), None)
    assert job.retries_left == 0
    assert fresh_run(fault_app, run_id).status == "failed"


# Last in the module: the lost machine's scheduler lock lingers for a minute afterwards.
def test_lost_worker_is_detected_and_its_run_completes_elsewhere(
    fault_app: Flask, client: FlaskClient, editor: Person, workers: Workers, big_file: bytes
) -> None:
    first, second = workers(), workers()
    _wait_workers(fault_app, 2)
    run_id = _upload(client, editor, big_file)
    _wait_rows_flowing(fault_app, run_id)
    owner = psutil.Process(_horse_pid(fault_app, run_id)).parent()
    assert owner is not None
    for process in [owner, *owner.children(recursive=True)]:
        process.kill()  # the machine is gone: worker, horse and scheduler at once
    survivor = second if owner.pid == first.pid else first
    run = _assert_completed_once(fault_app, run_id, BIG_ROWS)
    assert run.attempts == 2 and survivor.poll() is None
    with fault_app.app_context():
        sources = db.session.execute(
            select(ValidationLog.source).where(ValidationLog.validation_run_id == run_id)
        ).scalars().all()
    assert "maintenance" in sources


def _scheduler_lock(app: Flask) -> tuple[Redis, str]:
    from validateur.queue import redis_manager

    with app.app_context():
        return redis_manager().client, RQScheduler.get_locking_key(app.config["VALIDATEUR_QUEUE"])


def test_a_lost_machines_scheduler_lock_is_taken_over_within_seconds(
    fault_app: Flask, workers: Workers
) -> None:
    """Retries wait in RQ's scheduler: a dead holder's lock must not block them a minute."""
    connection, key = _scheduler_lock(fault_app)
    connection.delete(key)
    connection.set(key, "scheduler-of-a-lost-machine", ex=45)  # last refreshed 16 s ago
    workers()
    wait_for(lambda: connection.get(key) not in (None, b"scheduler-of-a-lost-machine"), 20)


def test_a_live_schedulers_lock_is_left_alone(fault_app: Flask, workers: Workers) -> None:
    connection, key = _scheduler_lock(fault_app)
    connection.delete(key)
    alive = "scheduler-still-refreshing"
    connection.set(key, alive, ex=61)
    workers()
    deadline = time.monotonic() + 6  # several maintenance sweeps (1 s here)
    while time.monotonic() < deadline:
        assert connection.get(key) == alive.encode()
        connection.expire(key, 61)  # what a live RQ scheduler does every second
        time.sleep(0.5)
    connection.delete(key)
