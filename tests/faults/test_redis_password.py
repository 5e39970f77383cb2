"""Redis with a password (`redis://:pw@host:port/0`): all works, the password shows nowhere."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.support.api import Person, upload_csv
from tests.support.apps import app_for
from tests.support.cli import invoke
from tests.support.csvfiles import act, billing_csv
from tests.workers import wait_final
from validateur.stack import EmbeddedRedis

pytestmark = pytest.mark.e2e
PASSWORD = "pw-" + secrets.token_hex(8)


@pytest.fixture(scope="module")
def locked_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("locked"), password=PASSWORD)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def locked_env(service_env: dict[str, str], locked_redis: EmbeddedRedis) -> dict[str, str]:
    return {**service_env, "REDIS_URL": locked_redis.url,
            "VALIDATEUR_QUEUE": f"locked-{secrets.token_hex(3)}"}


@pytest.fixture(scope="module")
def locked_app(app: Flask, locked_env: dict[str, str]) -> Flask:
    return app_for(locked_env)


def test_a_password_protected_redis_works_and_the_password_stays_hidden(
    locked_app: Flask, locked_env: dict[str, str], make_person: object, tmp_path: Path
) -> None:
    editor: Person = make_person("editor")  # type: ignore[operator]
    admin: Person = make_person("admin")  # type: ignore[operator]
    client = locked_app.test_client()
    check = invoke(locked_app, "check-redis", env={"REDIS_URL": locked_env["REDIS_URL"]})
    assert check.exit_code == 0 and "PONG" in check.output and PASSWORD not in check.output
    assert ":***@" in check.output

    runs = [upload_csv(client, editor, billing_csv([act(n) for n in range(1, 21)])
                       ).get_json()["validationId"] for _ in range(2)]
    env = {**os.environ, **locked_env}
    ours = subprocess.run([sys.executable, "-m", "validateur", "worker", "--burst"], env=env,
                          capture_output=True, timeout=120)
    assert ours.returncode == 0
    for run_id in runs:
        assert wait_final(locked_app, run_id).status == "completed"
    plain = subprocess.run(
        [str(Path(sys.executable).parent / "rq"), "worker", "--burst", "--url",
         locked_env["REDIS_URL"], locked_env["VALIDATEUR_QUEUE"]],
        env=env, capture_output=True, timeout=120)
    assert plain.returncode == 0

    logs = ours.stdout + ours.stderr
    assert PASSWORD.encode() not in logs and b":***@" in logs
    client.post("/login", data={"email": admin.email, "password": admin.password})
    for path in ("/admin/", "/api/health", "/admin/rq/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert PASSWORD not in response.get_data(as_text=True), path


def test_a_wrong_password_is_a_clear_error(locked_app: Flask, locked_redis: EmbeddedRedis) -> None:
    result = invoke(locked_app, "check-redis",
                    env={"REDIS_URL": f"redis://:wrong@127.0.0.1:{locked_redis.port}/0"})
    assert result.exit_code == 1
    assert "mot de passe" in result.output and "wrong" not in result.output
