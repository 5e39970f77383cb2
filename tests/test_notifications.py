"""Notifications with real parts: the outbox in PostgreSQL, a real HTTP receiver on loopback
that verifies signatures with `standardwebhooks`, a real aiosmtpd server.

Deliveries are driven here by calling `notifications.deliver` (what the job does) so each
attempt is one step; `tests/e2e/test_notify_worker.py` runs the same through real workers.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from rq import Queue
from sqlalchemy import func, select, update

from tests.support.api import Person
from tests.support.runs import make_run
from tests.support.smtp import SmtpServer
from validateur import auth, batches, notifications, runs
from validateur.extensions import db
from validateur.maintenance import run_maintenance
from validateur.models import (
    FailureCategory,
    Notification,
    NotificationState,
    NotifyEmail,
    Role,
    RunStatus,
    User,
    Webhook,
    utcnow,
)
from validateur.queue import redis_manager
from validateur.receiver import Receiver

COUNTS = {"error": 3, "warning": 1, "optimization": 2, "info": 0}
DONE = runs.Completed(1200, COUNTS, Decimal("1234.56"), Decimal("78.90"))
FAILED = runs.Failed("Colonnes manquantes.", FailureCategory.MISSING_COLUMNS)


@pytest.fixture()
def loopback(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback receivers allowed, no wait between attempts (each test drives them)."""
    monkeypatch.setitem(app.config, "VALIDATEUR_WEBHOOK_ALLOW_PRIVATE", True)
    monkeypatch.setitem(app.config, "VALIDATEUR_WEBHOOK_RETRY_SECONDS", [0, 0, 0])


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    found = Receiver().up()
    yield found
    found.down()


@pytest.fixture()
def smtp(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        monkeypatch.setitem(app.config, "SMTP_URL", server.url)
        yield server


@dataclass(frozen=True)
class Member:
    id: int
    organization_id: int


def _manager(app: Flask) -> tuple[Member, Person]:
    """A manager of an organization of their own: their ids and their API person."""
    with app.app_context():
        address = f"manager-{utcnow().timestamp()}@exemple.test"
        user, password = auth.create_user(address, Role.MANAGER)
        person = Person(address, "manager", auth.create_token(user), password)
        return Member(int(user.id), int(user.organization_id)), person


def _hook(app: Flask, organization_id: int, url: str,
          events: list[str] | None = None) -> tuple[int, str]:
    from validateur import webhooks

    with app.app_context():
        hook = Webhook(organization_id=organization_id, url=url,
                       events=events or list(webhooks.EVENTS), secret=webhooks.new_secret())
        db.session.add(hook)
        db.session.commit()
        return int(hook.id), hook.secret


def _finish(app: Flask, user_id: int, outcome: runs.Outcome = DONE, **values: Any) -> int:
    with app.app_context():
        run_id = make_run(RunStatus.PROCESSING, user_id=user_id,
                          file_name="ZQXW-clinique-secrete.csv", **values)
        assert runs.finish(run_id, outcome, source="test", line="fin")
        return run_id


def _rows(app: Flask, **where: Any) -> list[Notification]:
    with app.app_context():
        query = select(Notification).filter_by(**where).order_by(Notification.id)
        found = list(db.session.execute(query).scalars())
        for row in found:
            db.session.expunge(row)
        return found


def _deliver(app: Flask, row_id: int) -> str | None:
    with app.app_context():
        return notifications.deliver(row_id)


def _preference(app: Flask, user_id: int, choice: NotifyEmail) -> None:
    with app.app_context():
        db.session.execute(update(User).where(User.id == user_id).values(notify_email=choice))
        db.session.commit()


# -- the outbox -----------------------------------------------------------------------------

def test_a_run_end_writes_one_row_per_subscribed_endpoint_in_its_transaction(
        app: Flask, loopback: None, receiver: Receiver) -> None:
    user, _ = _manager(app)
    subscribed, _ = _hook(app, user.organization_id, receiver.url)
    _hook(app, user.organization_id, receiver.url, ["validation.failed"])
    run_id = _finish(app, user.id)
    rows = _rows(app, validation_run_id=run_id)
    assert [(r.event, r.webhook_id, r.state) for r in rows] == [
        ("validation.completed", subscribed, NotificationState.PENDING)]
    with app.app_context():  # a second end of the same run: refused, nothing written
        assert not runs.finish(run_id, FAILED, source="test", line="again")
        assert notifications.record_run_end(run_id) == []  # the same event twice: no row
    assert len(_rows(app, validation_run_id=run_id)) == 1
    data = rows[0].payload["data"]
    assert data == {"validationId": run_id, "status": "completed", "totalRows": 1200,
                    "counts": COUNTS, "potentialGain": "1234.56", "moneyAtRisk": "78.90",
                    "url": f"http://127.0.0.1:5000/runs/{run_id}"}
    assert "ZQXW" not in str(rows[0].payload)


def test_another_organizations_endpoint_hears_nothing(app: Flask, loopback: None,
                                                      receiver: Receiver) -> None:
    user, _ = _manager(app)
    other, _ = _manager(app)
    _hook(app, other.organization_id, receiver.url)
    run_id = _finish(app, user.id)
    assert _rows(app, validation_run_id=run_id) == []


# -- webhooks: signing, retries, 410, redirects, private addresses ---------------------------

def test_delivery_is_signed_and_verified_by_the_package(app: Flask, loopback: None,
                                                        receiver: Receiver) -> None:
    user, _ = _manager(app)
    _, receiver.secret = _hook(app, user.organization_id, receiver.url)
    run_id = _finish(app, user.id)
    (row,) = _rows(app, validation_run_id=run_id)
    assert _deliver(app, row.id) == "delivered"
    (got,) = receiver.wait(1)
    assert got.verified
    assert got.headers["webhook-id"] == row.message_id
    assert got.payload["type"] == "validation.completed"
    assert got.payload["data"]["validationId"] == run_id
    assert _deliver(app, row.id) is None  # delivered: a second job does nothing
    assert len(receiver.received) == 1


def test_receiver_down_then_failing_then_up_is_delivered_once_with_one_id(
        app: Flask, loopback: None, receiver: Receiver) -> None:
    user, _ = _manager(app)
    _, receiver.secret = _hook(app, user.organization_id, receiver.url)
    receiver.down()
    run_id = _finish(app, user.id)
    (row,) = _rows(app, validation_run_id=run_id)
    assert _deliver(app, row.id) == "pending"  # connection refused
    receiver.answers = [503]
    receiver.up()
    assert _deliver(app, row.id) == "pending"  # 503
    assert _deliver(app, row.id) == "delivered"
    (after,) = _rows(app, id=row.id)
    assert (after.attempts, after.last_status_code) == (3, 200)
    got = receiver.wait(2)
    assert [r.headers["webhook-id"] for r in got] == [row.message_id] * 2
    assert all(r.verified for r in got)
    assert _deliver(app, row.id) is None and len(receiver.received) == 2  # one 2xx only


def test_attempts_spent_mark_the_delivery_failed(app: Flask, loopback: None,
                                                 receiver: Receiver) -> None:
    user, _ = _manager(app)
    _hook(app, user.organization_id, receiver.url)
    receiver.default = 500
    (row,) = _rows(app, validation_run_id=_finish(app, user.id))
    states = [_deliver(app, row.id) for _ in range(5)]
    assert states == ["pending", "pending", "pending", "failed", None]
    assert len(receiver.received) == 4


def test_410_disables_the_endpoint(app: Flask, loopback: None, receiver: Receiver) -> None:
    user, _ = _manager(app)
    hook_id, _ = _hook(app, user.organization_id, receiver.url)
    receiver.answers = [410]
    (row,) = _rows(app, validation_run_id=_finish(app, user.id))
    assert _deliver(app, row.id) == "failed"
    with app.app_context():
        hook = db.session.get(Webhook, hook_id)
        assert hook is not None and hook.active is False
    assert _rows(app, validation_run_id=_finish(app, user.id)) == []


def test_a_redirect_is_not_followed(app: Flask, loopback: None, receiver: Receiver) -> None:
    target = Receiver().up()
    try:
        user, _ = _manager(app)
        receiver.redirect_to = target.url
        _hook(app, user.organization_id, receiver.url)
        (row,) = _rows(app, validation_run_id=_finish(app, user.id))
        assert _deliver(app, row.id) == "pending"
        (after,) = _rows(app, id=row.id)
        assert after.last_status_code == 302 and after.last_error == "redirection non suivie"
        assert len(receiver.received) == 1 and target.received == []
    finally:
        target.down()


@pytest.fixture()
def private_dns(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """`hooks.exemple.test` resolves to 10.0.0.7 (a private address), and every socket
    connection attempt is recorded and refused: nothing may be sent anywhere."""
    real = socket.getaddrinfo
    attempts: list[Any] = []

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.exemple.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port or 80))]
        return real(host, port, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError("no connection in this test")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


def test_a_private_address_is_refused_at_delivery_without_a_packet(
        app: Flask, private_dns: list[Any]) -> None:
    user, _ = _manager(app)
    _hook(app, user.organization_id, "http://hooks.exemple.test/hook")
    with app.app_context():
        run_id = make_run(RunStatus.PROCESSING, user_id=user.id)
        assert runs.finish(run_id, DONE, source="test", line="fin")
    (row,) = _rows(app, validation_run_id=run_id)
    private_dns.clear()  # the enqueue above talked to Redis; from here on, nothing
    assert _deliver(app, row.id) == "failed"
    (after,) = _rows(app, id=row.id)
    assert after.last_error == "adresse non publique refusée"
    assert private_dns == []


def test_a_private_address_is_refused_at_registration(
        app: Flask, client: FlaskClient, private_dns: list[Any]) -> None:
    _, manager = _manager(app)
    for url in ("http://hooks.exemple.test/hook", "http://127.0.0.1:8080/hook",
                "http://[::1]/hook", "http://169.254.169.254/latest", "http://100.64.0.1/"):
        answer = client.post("/api/webhooks", json={"url": url, "events": ["batch.completed"]},
                             headers=manager.headers)
        assert answer.status_code == 400, url
        assert "réseau privé ou local" in answer.get_json()["error"]["message"]
    assert private_dns == []


# -- the API --------------------------------------------------------------------------------

def test_webhook_api_for_managers(app: Flask, client: FlaskClient, loopback: None,
                                  receiver: Receiver, make_person: Any) -> None:
    _, manager = _manager(app)
    created = client.post("/api/webhooks", headers=manager.headers,
                          json={"url": receiver.url, "events": ["validation.failed"]})
    assert created.status_code == 201
    body = created.get_json()
    assert body["secret"].startswith("whsec_") and body["active"] is True
    assert body["events"] == ["validation.failed"]
    listed = client.get("/api/webhooks", headers=manager.headers).get_json()["items"]
    assert [h["id"] for h in listed] == [body["id"]] and "secret" not in listed[0]
    receiver.secret = body["secret"]

    tested = client.post(f"/api/webhooks/{body['id']}/test", headers=manager.headers)
    assert tested.status_code == 202 and tested.get_json()["event"] == "webhook.test"
    assert _deliver(app, tested.get_json()["id"]) == "delivered"
    assert receiver.wait(1)[0].verified
    deliveries = client.get(f"/api/webhooks/{body['id']}/deliveries",
                            headers=manager.headers).get_json()["items"]
    assert [(d["event"], d["state"], d["lastStatusCode"], d["attempts"]) for d in deliveries] \
        == [("webhook.test", "delivered", 200, 1)]
    assert deliveries[0]["webhookId"].startswith("msg_")

    outsider = make_person("manager")
    assert client.get(f"/api/webhooks/{body['id']}/deliveries",
                      headers=outsider.headers).status_code == 404
    assert client.delete(f"/api/webhooks/{body['id']}",
                         headers=outsider.headers).status_code == 404
    editor = make_person("editor")
    assert client.get("/api/webhooks", headers=editor.headers).status_code == 403
    assert client.get("/api/webhooks").status_code == 401
    assert client.delete(f"/api/webhooks/{body['id']}", headers=manager.headers
                         ).status_code == 204
    assert client.get("/api/webhooks", headers=manager.headers).get_json()["items"] == []


def test_webhook_registration_refusals_are_french(app: Flask, client: FlaskClient,
                                                  loopback: None) -> None:
    _, manager = _manager(app)
    for body in ({"url": "ftp://exemple.test/x", "events": ["batch.completed"]},
                 {"url": "http://127.0.0.1/x", "events": []},
                 {"url": "http://127.0.0.1/x", "events": ["run.done"]},
                 {"events": ["batch.completed"]}):
        answer = client.post("/api/webhooks", json=body, headers=manager.headers)
        assert answer.status_code == 400
        assert answer.get_json()["error"]["code"] == "invalid_webhook"


def test_me_preference(app: Flask, client: FlaskClient, editor: Person) -> None:
    me = client.get("/api/me", headers=editor.headers).get_json()
    assert me["notifyEmail"] == "never" and me["email"] == editor.email
    changed = client.patch("/api/me", json={"notifyEmail": "failures"}, headers=editor.headers)
    assert changed.get_json()["notifyEmail"] == "failures"
    assert client.patch("/api/me", json={"notifyEmail": "sometimes"},
                        headers=editor.headers).status_code == 400
    assert client.get("/api/me", headers=editor.headers).get_json()["notifyEmail"] == "failures"


# -- e-mail ---------------------------------------------------------------------------------

def test_one_french_email_per_run_as_the_preference_says(app: Flask, smtp: SmtpServer) -> None:
    user, _ = _manager(app)
    _finish(app, user.id)  # never (the default): no mail
    _preference(app, user.id, NotifyEmail.FAILURES)
    _finish(app, user.id)  # completed: not a failure
    failed = _finish(app, user.id, FAILED)
    _preference(app, user.id, NotifyEmail.ALWAYS)
    done = _finish(app, user.id, total_rows=100000)
    rows = _rows(app, user_id=user.id)
    assert [r.validation_run_id for r in rows] == [failed, done]
    assert [_deliver(app, r.id) for r in rows] == ["delivered", "delivered"]
    first, second = smtp.inbox.wait(2)
    assert first["Subject"] == f"Validation {failed} en échec"
    assert second["Subject"] == f"Validation {done} terminée"
    text = second.get_content()
    assert "Lignes : 1\u202f200" in text and "Erreurs : 3" in text
    assert "Gain potentiel : 1\u202f234,56\u00a0$" in text
    assert f"http://127.0.0.1:5000/runs/{done}" in text
    assert "ZQXW" not in text and "clinique" not in text
    assert _deliver(app, rows[1].id) is None
    assert len(smtp.inbox.messages) == 2


def test_no_smtp_url_no_email_rows(app: Flask) -> None:
    user, _ = _manager(app)
    _preference(app, user.id, NotifyEmail.ALWAYS)
    _finish(app, user.id)
    assert _rows(app, user_id=user.id) == []


# -- the sweeper ----------------------------------------------------------------------------

def test_the_sweeper_reenqueues_a_notification_whose_job_was_lost(
        app: Flask, loopback: None, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    user, _ = _manager(app)
    _hook(app, user.organization_id, receiver.url)
    run_id = _finish(app, user.id)
    (row,) = _rows(app, validation_run_id=run_id)
    with app.app_context():
        notify = Queue(app.config["VALIDATEUR_NOTIFICATIONS_QUEUE"],
                       connection=redis_manager().client)
        notify.empty()  # the job is lost (a Redis restart)
        monkeypatch.setitem(app.config, "VALIDATEUR_STALL_SECONDS", 0)
        assert run_maintenance().notifications == [row.id]
        (job,) = notify.get_jobs()
        assert job.args == (row.id,)
        notify.empty()
        delivered = db.session.execute(select(func.count()).select_from(Notification).where(
            Notification.state == NotificationState.DELIVERED)).scalar_one()
        assert delivered == 0


# -- batches --------------------------------------------------------------------------------

def test_a_batch_sends_one_batch_completed_and_one_email(
        app: Flask, loopback: None, receiver: Receiver, smtp: SmtpServer) -> None:
    user, _ = _manager(app)
    _preference(app, user.id, NotifyEmail.ALWAYS)
    _, receiver.secret = _hook(app, user.organization_id, receiver.url)
    with app.app_context():
        batch_id = int(batches.create(user.id, user.organization_id).id)
        db.session.commit()
        run_ids = [make_run(RunStatus.PROCESSING, user_id=user.id, batch_id=batch_id)
                   for _ in range(3)]
    outcomes: list[runs.Outcome] = [DONE, FAILED, DONE]
    with app.app_context():
        for run_id, outcome in zip(run_ids, outcomes, strict=True):
            assert runs.finish(run_id, outcome, source="test", line="fin")
    rows = _rows(app)
    assert sorted(r.event for r in rows) == ["batch.completed", "batch.completed",
                                             "validation.completed", "validation.completed",
                                             "validation.failed"]
    (email,) = [r for r in rows if r.user_id is not None]
    assert email.event == "batch.completed" and email.batch_id == batch_id
    assert {_deliver(app, r.id) for r in rows} == {"delivered"}
    (message,) = smtp.inbox.wait(1)
    assert message["Subject"] == f"Lot {batch_id} terminé en partie"
    text = message.get_content()
    assert "Fichiers : 3" in text and "Fichiers en échec : 1" in text
    assert "Erreurs : 6" in text and "Gain potentiel : 2\u202f469,12\u00a0$" in text
    got = receiver.wait(4)
    (batch_body,) = [r.payload for r in got if r.payload["type"] == "batch.completed"]
    assert batch_body["data"]["status"] == "partial"
    assert batch_body["data"]["fileCount"] == 3 and batch_body["data"]["totalRows"] == 2400
    assert all(r.verified for r in got)


def test_an_admin_names_the_organization_of_a_webhook(app: Flask, client: FlaskClient,
                                                      loopback: None, make_person: Any) -> None:
    admin = make_person("admin")
    user, _ = _manager(app)
    with app.app_context():
        name = db.session.get(User, user.id).organization.name  # type: ignore[union-attr]
    body = {"url": "http://127.0.0.1:9/hook", "events": ["batch.completed"]}
    refused = client.post("/api/webhooks", json=body, headers=admin.headers)
    assert refused.status_code == 400 and "organization" in refused.get_json()["error"]["message"]
    created = client.post("/api/webhooks", json={**body, "organization": name},
                          headers=admin.headers)
    assert created.status_code == 201
    with app.app_context():
        hook = db.session.get(Webhook, created.get_json()["id"])
        assert hook is not None and hook.organization_id == user.organization_id


def test_old_finished_notifications_are_purged_with_the_runs(app: Flask, loopback: None,
                                                            receiver: Receiver) -> None:
    user, _ = _manager(app)
    _hook(app, user.organization_id, receiver.url)
    old, recent = (_rows(app, validation_run_id=_finish(app, user.id))[0] for _ in range(2))
    assert _deliver(app, old.id) == "delivered"
    with app.app_context():
        db.session.execute(update(Notification).where(Notification.id == old.id).values(
            created_at=utcnow() - timedelta(days=app.config["VALIDATEUR_RETENTION_DAYS"] + 1)))
        db.session.commit()
        run_maintenance()
    assert [r.id for r in _rows(app)] == [recent.id]
