"""Notifications through real `validateur worker` processes: uploads end, the outbox rows
are written by the worker's `runs.finish`, delivered from the notifications queue to a
loopback receiver (signatures verified with `standardwebhooks`) and to an aiosmtpd server.

Also measured here: the delay from a run's final transition (`finished_at`) to the
webhook's arrival at the receiver (p50 and max, printed). And the worst case: the worker
SIGKILLed while its horse waits for the receiver's answer; the sweeper gives the row a new
job on the next worker, and the row is delivered once, with the same `webhook-id`.
"""

from __future__ import annotations

import itertools
import os
import statistics
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from flask import Flask
from sqlalchemy import select

from tests.support.api import Person, upload_csv
from tests.support.batches import upload_batch
from tests.support.csvfiles import act, billing_csv
from tests.support.smtp import SmtpServer
from tests.workers import start_rq_worker, stop, wait_final, wait_for
from validateur import auth
from validateur.extensions import db
from validateur.models import Notification, NotificationState, NotifyEmail, Role
from validateur.receiver import Receiver

pytestmark = pytest.mark.e2e
RUNS = 12


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture(scope="module")
def notify_env(service_env: dict[str, str], smtp: SmtpServer) -> dict[str, str]:
    return {**service_env, "SMTP_URL": smtp.url, "VALIDATEUR_WEBHOOK_ALLOW_PRIVATE": "1",
            "VALIDATEUR_WEBHOOK_RETRY_SECONDS": "1,1,1", "VALIDATEUR_SWEEP_SECONDS": "1",
            "VALIDATEUR_STALL_SECONDS": "2"}


def _worker(env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    return start_rq_worker(env, logs / f"worker-{os.urandom(2).hex()}.log", plain=False,
                           new_session=True)


@pytest.fixture()
def manager(app: Flask) -> Person:
    with app.app_context():
        address = f"gestion-{os.urandom(3).hex()}@exemple.test"
        user, password = auth.create_user(address, Role.MANAGER)
        user.notify_email = NotifyEmail.ALWAYS
        db.session.commit()
        return Person(address, "manager", auth.create_token(user), password)


def _register(app: Flask, manager: Person, url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(app.config, "VALIDATEUR_WEBHOOK_ALLOW_PRIVATE", True)
    answer = app.test_client().post("/api/webhooks", headers=manager.headers, json={
        "url": url, "events": ["validation.completed", "validation.failed"]})
    assert answer.status_code == 201
    secret: str = answer.get_json()["secret"]
    return secret


def _rows(app: Flask, run_id: int) -> list[Notification]:
    with app.app_context():
        found = list(db.session.execute(select(Notification).where(
            Notification.validation_run_id == run_id).order_by(Notification.id)).scalars())
        for row in found:
            db.session.expunge(row)
        return found


def test_runs_notify_each_endpoint_once_and_email_once_measured(
        app: Flask, manager: Person, notify_env: dict[str, str], smtp: SmtpServer,
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    receiver = Receiver().up()
    worker = _worker(notify_env, tmp_path)
    try:
        receiver.secret = _register(app, manager, receiver.url, monkeypatch)
        client = app.test_client()
        good = billing_csv([act(n) for n in range(1, 30)])
        bad = good + b'30,"unterminated' + b"x" * 1_500_000  # fails in the worker
        ids = [upload_csv(client, manager, bad if n % 4 == 3 else good,
                          name=f"ZQXW-clinique-{n}.csv").get_json()["validationId"]
               for n in range(RUNS)]
        finished = {run_id: wait_final(app, run_id).finished_at for run_id in ids}
        got = receiver.wait(RUNS)
        mails = smtp.inbox.wait(RUNS)
        wait_for(lambda: all(r.state == NotificationState.DELIVERED
                             for run_id in ids for r in _rows(app, run_id)), 30)
    finally:
        stop(worker)
        receiver.down()
    assert all(r.verified for r in got)
    by_run = {r.payload["data"]["validationId"]: r for r in got}
    assert sorted(by_run) == sorted(ids) and len(got) == RUNS  # once each
    assert {r.payload["type"] for r in got} == {"validation.completed", "validation.failed"}
    assert len(smtp.inbox.messages) == RUNS
    assert not any("ZQXW" in m.as_string() or "clinique" in m.as_string() for m in mails)
    delays = []
    for run_id in ids:
        ended = finished[run_id]
        assert ended is not None
        delays.append(by_run[run_id].wall - ended.timestamp())
    p50, worst = statistics.median(delays), max(delays)
    print(f"\nrun final → webhook received: p50 {p50 * 1000:.0f} ms, max {worst * 1000:.0f} ms "
          f"({RUNS} runs)")
    assert worst < 10


def test_worker_sigkilled_during_delivery_still_delivers_once(
        app: Flask, manager: Person, notify_env: dict[str, str],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    receiver = Receiver(delays=[30.0]).up()  # the first POST is never answered in time
    first = _worker(notify_env, tmp_path)
    second: subprocess.Popen[bytes] | None = None
    try:
        receiver.secret = _register(app, manager, receiver.url, monkeypatch)
        client = app.test_client()
        run_id = upload_csv(client, manager, billing_csv([act(1)])).get_json()["validationId"]
        assert wait_final(app, run_id).status == "completed"
        receiver.wait(1)  # the horse is now waiting for the answer
        for process in [*psutil.Process(first.pid).children(recursive=True)]:
            process.kill()  # the work-horse (RQ puts it in a session of its own)
        first.kill()
        first.wait(10)
        second = _worker(notify_env, tmp_path)
        got = receiver.wait(2, timeout=60)
        wait_for(lambda: all(r.state == NotificationState.DELIVERED
                             for r in _rows(app, run_id)), 30)
    finally:
        for process in (first, second):
            if process is not None:
                stop(process)
        receiver.down()
    (row,) = [r for r in _rows(app, run_id) if r.webhook_id is not None]
    assert (row.state, row.attempts, row.last_status_code) == ("delivered", 1, 200)
    assert [r.headers["webhook-id"] for r in got] == [row.message_id] * 2
    assert all(r.verified for r in got)



def test_retries_are_scheduled_by_rq_on_the_retry_schedule(
        app: Flask, manager: Person, notify_env: dict[str, str],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Two 503s, then 200: the attempts follow `VALIDATEUR_WEBHOOK_RETRY_SECONDS` (1 s here)
    through RQ's scheduler; the sweeper is kept out of it (a 10-minute stall limit)."""
    receiver = Receiver(answers=[503, 503]).up()
    worker = _worker({**notify_env, "VALIDATEUR_STALL_SECONDS": "600"}, tmp_path)
    try:
        receiver.secret = _register(app, manager, receiver.url, monkeypatch)
        client = app.test_client()
        run_id = upload_csv(client, manager, billing_csv([act(1)])).get_json()["validationId"]
        assert wait_final(app, run_id).status == "completed"
        got = receiver.wait(3, timeout=30)
        wait_for(lambda: all(r.state == NotificationState.DELIVERED
                             for r in _rows(app, run_id)), 30)
    finally:
        stop(worker)
        receiver.down()
    (row,) = [r for r in _rows(app, run_id) if r.webhook_id is not None]
    assert (row.attempts, row.last_status_code) == (3, 200)
    assert len({r.headers["webhook-id"] for r in got}) == 1 and len(got) == 3
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(got)]
    assert all(0.2 <= gap < 8 for gap in gaps), gaps  # RQ schedules to the second


def test_a_batch_of_five_files_sends_one_batch_webhook_and_one_email(
        app: Flask, manager: Person, notify_env: dict[str, str], smtp: SmtpServer,
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Five files, one of them failing in the worker: every run's own webhook, then one
    signed `batch.completed` (status `partial`) and a single e-mail for the whole batch."""
    receiver = Receiver().up()
    worker = _worker(notify_env, tmp_path)
    already = len(smtp.inbox.messages)
    try:
        receiver.secret = _register(app, manager, receiver.url, monkeypatch)
        client = app.test_client()
        hooks = client.get("/api/webhooks", headers=manager.headers).get_json()["items"]
        client.delete(f"/api/webhooks/{hooks[0]['id']}", headers=manager.headers)
        answer = client.post("/api/webhooks", headers=manager.headers, json={
            "url": receiver.url, "events": ["validation.completed", "batch.completed"]})
        receiver.secret = answer.get_json()["secret"]
        good = billing_csv([act(n) for n in range(1, 20)])
        bad = good + b'20,"unterminated' + b"x" * 1_500_000
        files = [(bad if n == 2 else good, f"ZQXW-clinique-{n}.csv") for n in range(5)]
        batch = upload_batch(client, manager, files).get_json()
        assert len(batch["runs"]) == 5
        got = receiver.wait(5, timeout=120)  # four completed runs and the batch
        mails = smtp.inbox.wait(already + 1, timeout=60)
    finally:
        stop(worker)
        receiver.down()
    types = sorted(r.payload["type"] for r in got)
    assert types == ["batch.completed"] + ["validation.completed"] * 4
    (ended,) = [r.payload["data"] for r in got if r.payload["type"] == "batch.completed"]
    assert (ended["batchId"], ended["status"], ended["fileCount"]) == (
        batch["batchId"], "partial", 5)
    assert all(r.verified for r in got)
    assert len(mails) == already + 1
    assert mails[-1]["Subject"] == f"Lot {batch['batchId']} terminé en partie"
