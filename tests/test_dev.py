"""`validateur dev` as a person runs it: in a terminal (its own process group, Ctrl+C sent to
the whole group), commands typed beside it without exports, an upload through the API,
stopped and started again.

Each test gives the stack its own instance directory (never the checkout's `instance/`) and
the session's PostgreSQL; Redis is the embedded one unless said otherwise.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from flask import Flask
from sqlalchemy import func, select

from tests.support.csvfiles import act, billing_csv, sample_file
from tests.workers import VENV_BIN, wait_for
from validateur import dev as dev_module
from validateur.extensions import db
from validateur.models import BillingRecord, ValidationRun
from validateur.stack import EmbeddedRedis, free_port

pytestmark = pytest.mark.e2e
READY = "Validateur : http"


def _multipart(content: bytes) -> tuple[bytes, str]:
    boundary = "----validateur-test"
    body = io.BytesIO()
    body.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
               f"filename=\"f.csv\"\r\nContent-Type: text/csv\r\n\r\n".encode())
    body.write(content)
    body.write(f"\r\n--{boundary}--\r\n".encode())
    return body.getvalue(), f"multipart/form-data; boundary={boundary}"


def _call(url: str, token: str, data: bytes | None = None, ctype: str = "") -> dict[str, object]:
    request = urllib.request.Request(url, data=data, headers={"Authorization": f"Bearer {token}"})
    if ctype:
        request.add_header("Content-Type", ctype)
    with urllib.request.urlopen(request, timeout=10) as response:
        result: dict[str, object] = json.loads(response.read())
        return result


class Terminal:
    """`validateur dev` in its own process group, as a shell runs a foreground job."""

    def __init__(self, env: dict[str, str], log: Path, port: int) -> None:
        self.log, self.port = log, port
        self.process = subprocess.Popen(
            [sys.executable, "-m", "validateur", "dev", "--port", str(port)], env=env,
            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self) -> None:
        wait_for(lambda: READY in self.text() or self.process.poll() is not None, 120)
        assert READY in self.text(), self.text()[-3000:]

    def found(self, pattern: str) -> str:
        match = re.search(pattern, self.text())
        assert match is not None, (pattern, self.text()[-3000:])
        return match.group(1)

    def ctrl_c(self) -> None:
        os.killpg(self.process.pid, signal.SIGINT)

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture()
def terminals() -> Iterator[list[Terminal]]:
    opened: list[Terminal] = []
    yield opened
    for terminal in opened:
        terminal.close()


def _dev_env(service_env: dict[str, str], instance: Path, *, embedded_redis: bool
             ) -> dict[str, str]:
    env = {**os.environ, **service_env, "VALIDATEUR_INSTANCE_DIR": str(instance)}
    env.pop("VALIDATEUR_TESTING")
    if embedded_redis:
        env.pop("REDIS_URL")
    return env


def _beside(instance: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """A `validateur` command typed in another terminal of the checkout: nothing exported."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
           "VALIDATEUR_INSTANCE_DIR": str(instance)}
    return subprocess.run([str(VENV_BIN / "validateur"), *args], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=Path(__file__).resolve().parents[1])


def test_a_taken_port_is_one_french_line_and_a_failure(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "VALIDATEUR_INSTANCE_DIR": str(tmp_path)}
        done = subprocess.run([sys.executable, "-m", "validateur", "dev", "--port", str(port)],
                              env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(port) in lines[0] and "--port" in lines[0] and "déjà utilisé" in lines[0]
    assert done.stdout == ""  # no URL printed, nothing started
    assert not (tmp_path / "redis").exists()


def test_commands_reach_the_running_stack_and_its_accounts_and_ports_are_kept(
    app: Flask, service_env: dict[str, str], tmp_path: Path, terminals: list[Terminal]
) -> None:
    instance = tmp_path / "instance"
    env = _dev_env(service_env, instance, embedded_redis=True)
    first = Terminal(env, tmp_path / "first.log", free_port())
    terminals.append(first)
    first.wait_ready()
    password = first.found(r"Compte admin de développement : \S+ / (\S+)")
    token = first.found(r"Jeton d'API de développement : (\S+)")
    redis_url = first.found(r"Redis +: (\S+)")
    for name in (dev_module.CREDENTIALS_FILE, dev_module.STACK_FILE, "secret_key"):
        assert (instance / name).stat().st_mode & 0o777 == 0o600, name

    created = _beside(instance, "users", "create", "agent@exemple.test", "--role", "editor")
    assert created.returncode == 0, created.stderr
    csv_file = tmp_path / "facturation.csv"
    csv_file.write_bytes(billing_csv([act(n) for n in range(1, 21)]))
    waited = _beside(instance, "validate", str(csv_file), "--wait", "--user",
                     "agent@exemple.test")
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert "terminée : 20 lignes" in waited.stdout
    with app.app_context():
        from validateur.models import User

        run, owner = db.session.execute(select(ValidationRun, User.email).join(
            User, User.id == ValidationRun.user_id)).one()
        assert (run.status, owner) == ("completed", "agent@exemple.test")

    first.ctrl_c()
    assert first.process.wait(60) == 0
    assert not (instance / dev_module.STACK_FILE).exists()
    alone = _beside(instance, "users", "create", "autre@exemple.test", "--role", "editor")
    assert alone.returncode != 0 and "Traceback" not in alone.stderr  # no stack to reach

    second = Terminal(env, tmp_path / "second.log", free_port())
    terminals.append(second)
    second.wait_ready()
    assert second.found(r"Compte admin de développement : \S+ / (\S+)") == password
    assert second.found(r"Jeton d'API de développement : (\S+)") == token
    assert second.found(r"Redis +: (\S+)") == redis_url
    base = f"http://127.0.0.1:{second.port}"
    listed = _call(f"{base}/api/validations", token)
    assert listed["items"][0]["id"] == run.id  # type: ignore[index]
    with app.app_context():
        from validateur.models import ApiToken

        assert db.session.execute(select(func.count()).select_from(ApiToken)).scalar_one() == 1
    wait_for(lambda: _call(f"{base}/api/health", token)["workers"] == 2, 30)
    body, ctype = _multipart(billing_csv([act(n) for n in range(1, 51)]))
    uploaded = _call(f"{base}/api/validations", token, body, ctype)["validationId"]
    wait_for(lambda: _call(f"{base}/api/validations/{uploaded}", token)["status"]
             == "completed", 60)
    children = psutil.Process(second.process.pid).children(recursive=True)
    assert len(children) >= 4  # gunicorn, two workers, Redis
    second.ctrl_c()
    assert second.process.wait(60) == 0
    wait_for(lambda: not any(child.is_running() and child.status() != "zombie"
                             for child in children), 15)
    assert "Validateur arrêté." in second.text()


def test_a_second_ctrl_c_hands_the_running_job_back_and_the_next_start_completes_it(
    app: Flask, service_env: dict[str, str], tmp_path: Path, terminals: list[Terminal]
) -> None:
    rows = 150_000
    big = sample_file(tmp_path / "big.csv", rows)
    instance = tmp_path / "instance"
    env = _dev_env(service_env, instance, embedded_redis=True)
    first = Terminal(env, tmp_path / "first.log", free_port())
    terminals.append(first)
    first.wait_ready()
    queued = _beside(instance, "validate", str(big))
    assert queued.returncode == 0, queued.stderr
    run_id = int(queued.stdout.split("Validation ")[1].split()[0])

    def run() -> ValidationRun:
        with app.app_context():
            db.session.expire_all()
            found = db.session.get(ValidationRun, run_id)
            assert found is not None
            db.session.expunge(found)
            return found

    wait_for(lambda: run().processed_rows > 0, 120, 0.05)
    first.ctrl_c()
    wait_for(lambda: "Arrêt : attente" in first.text(), 20)
    assert (f"Arrêt : attente de la fin de la validation {run_id} (au plus 30 s)… "
            "Ctrl+C de nouveau pour arrêter tout de suite.") in first.text()
    time.sleep(0.5)
    first.ctrl_c()
    started = time.monotonic()
    assert first.process.wait(30) == 0
    assert time.monotonic() - started < 20  # not the 30 s grace
    assert f"la validation {run_id} est remise en file d'attente" in first.text()
    handed_back = run()
    assert handed_back.status == "queued", handed_back.error_message
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(BillingRecord)
                                  ).scalar_one() == 0

    second = Terminal(env, tmp_path / "second.log", free_port())
    terminals.append(second)
    second.wait_ready()
    wait_for(lambda: run().status in ("completed", "failed"), 180, 0.5)
    done = run()
    assert done.status == "completed", done.error_message
    assert done.total_rows == rows and done.attempts == 2
    with app.app_context():
        assert db.session.execute(
            select(func.count()).select_from(BillingRecord)
            .where(BillingRecord.validation_run_id == run_id)).scalar_one() == rows
    second.ctrl_c()
    assert second.process.wait(60) == 0


def test_a_stack_file_left_by_a_killed_stack_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VALIDATEUR_INSTANCE_DIR", str(tmp_path))
    for variable in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY"):
        monkeypatch.delenv(variable, raising=False)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    record = {"DATABASE_URL": "postgresql://x@127.0.0.1:1/x", "REDIS_URL": "redis://h:1/0",
              "pid": gone.pid, "processStarted": 1.0, "secretKeyFile": str(tmp_path / "k")}
    (tmp_path / dev_module.STACK_FILE).write_text(json.dumps(record))
    environ: dict[str, str] = {}
    assert not dev_module.apply_stack_environment(environ) and environ == {}
    record.update(pid=os.getpid(), processStarted=psutil.Process().create_time())
    (tmp_path / dev_module.STACK_FILE).write_text(json.dumps(record))
    (tmp_path / "k").write_text("dev-secret\n")
    assert dev_module.apply_stack_environment(environ)
    assert environ == {"DATABASE_URL": record["DATABASE_URL"], "REDIS_URL": "redis://h:1/0",
                       "SECRET_KEY": "dev-secret"}
    exported = {"DATABASE_URL": "postgresql://prod/x"}
    assert not dev_module.apply_stack_environment(exported)  # an export always wins
    assert exported == {"DATABASE_URL": "postgresql://prod/x"}


def test_embedded_redis_is_out_of_reach_of_the_terminals_ctrl_c(tmp_path: Path) -> None:
    """Ctrl+C goes to the terminal's whole process group: Redis must not stop before the
    workers do; `validateur dev` stops it last."""
    redis = EmbeddedRedis(tmp_path / "redis")
    redis.start()
    try:
        assert redis.process is not None
        assert os.getsid(redis.process.pid) != os.getsid(0)
    finally:
        redis.stop()
    assert redis.process.poll() is not None


def test_the_embedded_redis_port_is_reused_while_free(tmp_path: Path) -> None:
    first = dev_module.remembered_redis_port(tmp_path)
    assert dev_module.remembered_redis_port(tmp_path) == first
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", first))
        taken.listen()
        other = dev_module.remembered_redis_port(tmp_path)
    assert other != first
    assert dev_module.remembered_redis_port(tmp_path) == other
