"""A batch survives a lost worker: it still ends once and says so once.

Real `validateur worker` processes on a Redis server of this module, the session's
PostgreSQL, a loopback webhook receiver verifying signatures with `standardwebhooks`
(`validateur.receiver`) and an aiosmtpd server. A batch of three files is submitted to one
worker; while its first (large) file is processing, the worker and its work-horse are
SIGKILLed (the machine is gone: no callback runs). A second worker's sweeper gives the run a
new job. Expected, as a user relies on it: every run completed once with exactly its rows,
the batch's `finishedAt` written once (never moving, never before its last run ended), and
exactly one `batch.completed` webhook and one e-mail for the whole batch.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime

import psutil
import pytest
from flask import Flask
from flask.testing import FlaskClient
from rq.job import Job
from sqlalchemy import select

from tests.support.api import Person
from tests.support.batches import upload_batch
from tests.support.csvfiles import act, billing_csv, sample_file
from tests.support.runs import fresh_run, stored_rows
from tests.support.smtp import SmtpServer
from tests.workers import wait_final, wait_for
from validateur import auth
from validateur.extensions import db
from validateur.models import Batch, Notification, NotifyEmail, Role
from validateur.receiver import Received, Receiver

pytestmark = pytest.mark.e2e
BIG_ROWS = 100_000
SMALL_ROWS = 40
Workers = Callable[[], subprocess.Popen[bytes]]


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture(scope="module")
def fault_env(fault_env: dict[str, str], smtp: SmtpServer) -> dict[str, str]:
    """The fault tests' environment, with e-mail on and the loopback receiver allowed."""
    return {**fault_env, "SMTP_URL": smtp.url, "VALIDATEUR_WEBHOOK_ALLOW_PRIVATE": "1"}


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return sample_file(tmp_path_factory.mktemp("big") / "big.csv", BIG_ROWS).read_bytes()


@pytest.fixture()
def manager(fault_app: Flask) -> Person:
    """Subscribes webhooks, submits the batch, wants every end e-mailed."""
    with fault_app.app_context():
        address = f"gestion-{os.urandom(3).hex()}@exemple.test"
        user, password = auth.create_user(address, Role.MANAGER)
        user.notify_email = NotifyEmail.ALWAYS
        db.session.commit()
        return Person(address, "manager", auth.create_token(user), password)


def _kill_the_machine_of(fault_app: Flask, run_id: int) -> None:
    """SIGKILL the work-horse running `run_id`, its worker and the worker's other children."""
    from validateur.queue import redis_manager

    with fault_app.app_context():
        job = Job.fetch(f"validation-{run_id}", connection=redis_manager().client)
        horse = psutil.Process(int(job.get_meta(refresh=True)["pid"]))
    owner = horse.parent()
    assert owner is not None
    for process in [owner, *owner.children(recursive=True)]:
        process.kill()
    owner.wait(10)


def _finished_at_seen(client: FlaskClient, person: Person, batch_id: int,
                      timeout: float = 180) -> tuple[set[str], list[str]]:
    """Poll the batch until it is final, then a few sweeps more: every `finishedAt` value
    seen, and the run statuses at the first moment one was."""
    seen: set[str] = set()
    runs_then: list[str] = []
    deadline = time.monotonic() + timeout
    quiet_until = None
    while time.monotonic() < deadline:
        batch = client.get(f"/api/batches/{batch_id}", headers=person.headers).get_json()
        if batch["finishedAt"]:
            if not seen:
                runs_then = [run["status"] for run in batch["runs"]]
                quiet_until = time.monotonic() + 4  # four sweeps (1 s each here)
            seen.add(batch["finishedAt"])
        if quiet_until is not None and time.monotonic() > quiet_until:
            break
        time.sleep(0.2)
    return seen, runs_then


def _outbox(fault_app: Flask, batch_id: int) -> list[tuple[str, str, int, bool]]:
    """(event, state, attempts, is a webhook) of every outbox row about the batch."""
    with fault_app.app_context():
        rows = db.session.execute(select(Notification).where(
            Notification.batch_id == batch_id).order_by(Notification.id)).scalars().all()
        return [(row.event, str(row.state), int(row.attempts), row.webhook_id is not None)
                for row in rows]


def _of_type(got: list[Received], event: str) -> list[Received]:
    return [r for r in got if r.payload and r.payload["type"] == event]


def test_worker_sigkilled_mid_batch_still_ends_the_batch_once_and_notifies_once(
        fault_app: Flask, workers: Workers, manager: Person, smtp: SmtpServer,
        big_file: bytes) -> None:
    receiver = Receiver().up()
    already = len(smtp.inbox.messages)
    client = fault_app.test_client()
    try:
        hook = client.post("/api/webhooks", headers=manager.headers, json={
            "url": receiver.url, "events": ["validation.completed", "batch.completed"]})
        assert hook.status_code == 201, hook.get_json()
        receiver.secret = hook.get_json()["secret"]
        workers()
        small = billing_csv([act(n) for n in range(1, SMALL_ROWS + 1)])
        answer = upload_batch(client, manager, [
            (big_file, "ZQXW-clinique-1.csv"), (small, "ZQXW-clinique-2.csv"),
            (small, "ZQXW-clinique-3.csv")])
        assert answer.status_code == 202, answer.get_json()
        batch_id = answer.get_json()["batchId"]
        ids = [run["validationId"] for run in answer.get_json()["runs"]]
        wait_for(lambda: fresh_run(fault_app, ids[0]).processed_rows > 0, 90, 0.05)
        assert fresh_run(fault_app, ids[0]).status == "processing"
        _kill_the_machine_of(fault_app, ids[0])
        workers()  # its sweeper recovers the run within the stall limit (3 s here)
        seen, runs_then = _finished_at_seen(client, manager, batch_id)
        wait_for(lambda: all(state == "delivered"
                             for _, state, _, _ in _outbox(fault_app, batch_id)), 30)
        got = receiver.wait(len(ids) + 1, timeout=60)
        mails = smtp.inbox.wait(already + 1, timeout=30)
        time.sleep(3)  # three more sweeps: nothing may be sent again
    finally:
        receiver.down()

    for run_id, rows in zip(ids, [BIG_ROWS, SMALL_ROWS, SMALL_ROWS], strict=True):
        run = wait_final(fault_app, run_id)
        assert run.status == "completed", run.error_message
        assert stored_rows(fault_app, run_id) == rows == run.total_rows
    assert fresh_run(fault_app, ids[0]).attempts == 2
    assert {fresh_run(fault_app, run_id).attempts for run_id in ids[1:]} == {1}

    assert len(seen) == 1, seen  # `finishedAt` written once, never moved
    assert runs_then == ["completed"] * 3  # and not before the last run ended
    with fault_app.app_context():
        batch = db.session.get(Batch, batch_id)
        assert batch is not None and batch.final_status == "completed"
        finished = batch.finished_at
    assert finished is not None and finished == datetime.fromisoformat(seen.pop())
    ends = [end for run_id in ids if (end := fresh_run(fault_app, run_id).finished_at)]
    assert len(ends) == 3 and finished >= max(ends)

    assert sorted(_outbox(fault_app, batch_id)) == sorted(
        [("batch.completed", "delivered", 1, True), ("batch.completed", "delivered", 1, False)]
        + [("validation.completed", "delivered", 1, True)] * 3)
    got = list(receiver.received)
    assert all(r.verified for r in got)
    (ended,) = _of_type(got, "batch.completed")  # exactly one delivery, at the receiver
    assert (ended.payload["data"]["batchId"], ended.payload["data"]["status"],
            ended.payload["data"]["fileCount"]) == (batch_id, "completed", 3)
    assert sorted(r.payload["data"]["validationId"]
                  for r in _of_type(got, "validation.completed")) == ids
    assert len(got) == len(ids) + 1
    assert len(smtp.inbox.messages) == already + 1  # one e-mail for the whole batch
    assert mails[-1]["Subject"] == f"Lot {batch_id} terminé"
    assert "ZQXW" not in mails[-1].as_string() and not any(b"ZQXW" in r.body for r in got)
