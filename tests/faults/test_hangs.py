"""Hung dependencies, not refusing ones: Redis or PostgreSQL stopped by SIGSTOP.

A stopped server still completes TCP handshakes and acknowledges what is sent, but answers
nothing: only our own budgets end the waits. A real gunicorn serves an app on a PostgreSQL
cluster and a Redis server of this module's own (never the shared ones), each paused and
resumed in turn. Budgets are the defaults (database 2 s, enqueue 2 s, health 1 s).
"""

from __future__ import annotations

import io
import json
import secrets
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from flask import Flask
from sqlalchemy import func, select, text

from tests.faults.servers import ThrowawayPostgres, paused
from tests.support.api import upload_csv
from tests.support.apps import app_for
from tests.support.csvfiles import act, billing_csv
from tests.workers import wait_for
from validateur.extensions import db
from validateur.models import ValidationRun
from validateur.stack import EmbeddedRedis, free_port, start_web, wait_for_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
HEALTH_LIMIT_SECONDS = 3.0
UPLOAD_LIMIT_SECONDS = 5.0
READ_LIMIT_SECONDS = 1.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[ThrowawayPostgres]:
    server = ThrowawayPostgres()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hang_env(service_env: dict[str, str], cluster: ThrowawayPostgres, own_redis: EmbeddedRedis,
             tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = {**service_env, "DATABASE_URL": cluster.url, "REDIS_URL": own_redis.url,
           "VALIDATEUR_QUEUE": f"hangs-{secrets.token_hex(3)}",
           "VALIDATEUR_UPLOAD_DIR": str(tmp_path_factory.mktemp("hang-uploads"))}
    env.pop("VALIDATEUR_TESTING")  # gunicorn runs the app as in production
    return env


@pytest.fixture(scope="module")
def hang_app(hang_env: dict[str, str]) -> Iterator[Flask]:
    from flask_migrate import upgrade

    app = app_for({**hang_env, "VALIDATEUR_TESTING": "1"})
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


@dataclass
class Web:
    base: str
    token: str
    upload_dir: Path

    def call(self, path: str, data: bytes | None = None, ctype: str = "",
             method: str | None = None) -> tuple[int, float, dict[str, object] | str]:
        """(status, seconds, JSON body or text) of one request; the client gives up at 30 s."""
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Authorization": f"Bearer {self.token}"})
        if ctype:
            request.add_header("Content-Type", ctype)
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        elapsed = time.monotonic() - started
        try:
            return status, elapsed, json.loads(raw)
        except ValueError:
            return status, elapsed, raw.decode(errors="replace")

    def upload(self) -> tuple[int, float, dict[str, object] | str]:
        boundary = "----validateur-hang"
        body = io.BytesIO()
        body.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                   f"filename=\"f.csv\"\r\nContent-Type: text/csv\r\n\r\n".encode())
        body.write(billing_csv([act(n) for n in range(1, 6)]))
        body.write(f"\r\n--{boundary}--\r\n".encode())
        return self.call("/api/validations", body.getvalue(),
                         f"multipart/form-data; boundary={boundary}")

    def files(self) -> list[str]:
        return sorted(path.name for path in self.upload_dir.iterdir())


@pytest.fixture(scope="module")
def web(hang_env: dict[str, str], hang_app: Flask, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Web]:
    from validateur import auth
    from validateur.models import Role

    with hang_app.app_context():
        user, _ = auth.create_user(f"hang-{secrets.token_hex(3)}@exemple.test", Role.EDITOR)
        token = auth.create_token(user)
    port = free_port()
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    server = start_web({**hang_env, "WEB_CONCURRENCY": "1"}, port, log=log)
    try:
        wait_for_port(port, 30)
        site = Web(f"http://127.0.0.1:{port}", token, Path(hang_env["VALIDATEUR_UPLOAD_DIR"]))
        wait_for(lambda: site.call("/api/health")[0] == 200, 30)
        yield site
    finally:
        server.send_signal(signal.SIGINT)  # quick shutdown: nothing is in flight
        server.wait(30)


def _run_count(app: Flask) -> int:
    with app.app_context():
        return int(db.session.execute(select(func.count()).select_from(ValidationRun))
                   .scalar_one())


def _recovers(web: Web) -> None:
    wait_for(lambda: web.call("/api/health")[0] == 200, 15)
    status, _, body = web.upload()
    assert status == 202, body


def test_a_hung_redis_answers_503_in_seconds_and_reads_keep_working(
    web: Web, hang_app: Flask, own_redis: EmbeddedRedis
) -> None:
    status, _, accepted = web.upload()
    assert status == 202 and isinstance(accepted, dict), accepted
    run_id = accepted["validationId"]
    runs_before, files_before = _run_count(hang_app), web.files()
    assert own_redis.process is not None
    with paused([psutil.Process(own_redis.process.pid)]):
        status, seconds, health = web.call("/api/health")
        assert status == 503 and seconds < HEALTH_LIMIT_SECONDS, (status, seconds)
        assert isinstance(health, dict)
        assert (health["redis"], health["database"]) == ("down", "ok")
        status, seconds, refused = web.upload()
        assert status == 503 and seconds < UPLOAD_LIMIT_SECONDS, (status, seconds, refused)
        assert isinstance(refused, dict)
        assert refused["error"]["code"] == "queue_unavailable"  # type: ignore[index]
        for page in ("/api/validations", f"/api/validations/{run_id}",
                     f"/api/validations/{run_id}/results", "/runs", f"/runs/{run_id}"):
            status, seconds, _ = web.call(page)
            assert status == 200 and seconds < READ_LIMIT_SECONDS, (page, status, seconds)
        assert web.files() == files_before
    assert _run_count(hang_app) == runs_before
    _recovers(web)


def test_a_hung_postgresql_answers_503_in_seconds_and_leaves_nothing_behind(
    web: Web, hang_app: Flask, cluster: ThrowawayPostgres
) -> None:
    assert web.call("/api/health")[0] == 200  # the pool holds a live connection
    runs_before, files_before = _run_count(hang_app), web.files()
    with paused(cluster.processes()):
        status, seconds, refused = web.upload()  # on the pooled connection: wait, probe
        assert status == 503 and seconds < UPLOAD_LIMIT_SECONDS, (status, seconds, refused)
        assert isinstance(refused, dict)
        assert refused["error"]["code"] == "database_unavailable"  # type: ignore[index]
        status, seconds, health = web.call("/api/health")
        assert status == 503 and seconds < HEALTH_LIMIT_SECONDS, (status, seconds)
        assert isinstance(health, dict)
        assert (health["database"], health["redis"]) == ("down", "ok")
        for page in ("/api/validations", "/runs"):
            status, seconds, body = web.call(page)
            assert status == 503 and seconds < UPLOAD_LIMIT_SECONDS, (page, status, seconds)
            assert "base de données" in str(body)
        assert web.files() == files_before
    assert _run_count(hang_app) == runs_before
    _recovers(web)


def test_a_long_statement_of_a_web_request_is_not_cut(
    hang_env: dict[str, str], hang_app: Flask
) -> None:
    """A busy server is not a hung one: a DELETE waiting 1.5 s for a lock outlives a 0.3 s
    budget, because the server answers the liveness probe."""
    from validateur import auth
    from validateur.models import Role

    app = app_for({**hang_env, "VALIDATEUR_TESTING": "1", "VALIDATEUR_DB_TIMEOUT_SECONDS": "0.3"})
    client = app.test_client()
    with app.app_context():
        user, _ = auth.create_user(f"long-{secrets.token_hex(3)}@exemple.test", Role.EDITOR)
        from tests.support.api import Person

        person = Person(user.email, "editor", auth.create_token(user), "")
    response = upload_csv(client, person, billing_csv([act(1)]))
    assert response.status_code == 202, response.get_json()
    run_id = response.get_json()["validationId"]
    locked = threading.Event()

    def hold_the_row() -> None:
        with app.app_context():
            db.session.execute(text("SELECT id FROM validation_runs WHERE id = :id FOR UPDATE"),
                               {"id": run_id})
            locked.set()
            time.sleep(1.5)
            db.session.commit()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    assert locked.wait(10)
    started = time.monotonic()
    deleted = client.delete(f"/api/validations/{run_id}", headers=person.headers)
    elapsed = time.monotonic() - started
    holder.join()
    assert deleted.status_code == 204, deleted.get_json()
    assert elapsed > 1.0  # it did wait for the lock, past several budgets
    with app.app_context():
        assert db.session.get(ValidationRun, run_id) is None
        db.engine.dispose()


def test_waits_outside_web_requests_are_not_bounded(
    hang_app: Flask, cluster: ThrowawayPostgres
) -> None:
    """Workers and commands wait for a paused server as long as it takes (their own
    supervision handles a dead one): a query outlives the pause, 3.5 s > budget + probe."""
    results: list[int] = []

    def query() -> None:
        with hang_app.app_context():
            results.append(int(db.session.execute(text("SELECT 41 + 1")).scalar_one()))
            db.session.remove()

    with hang_app.app_context():  # a live pooled connection, as a worker holds one
        db.session.execute(text("SELECT 1"))
        db.session.remove()
    with paused(cluster.processes()):
        asker = threading.Thread(target=query)
        asker.start()
        time.sleep(3.5)
        assert asker.is_alive() and not results
    asker.join(10)
    assert results == [42]
