"""The `validateur` commands, run against the session's real services."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy import func, select

from tests.csvfiles import act, billing_csv
from tests.workers import start_rq_worker, stop
from validateur.cli import main
from validateur.extensions import db
from validateur.models import ApiToken, GmfEstablishment, RamqCode, User, ValidationRun

SHARED_CODES = Path(__file__).resolve().parents[2] / "shared" / "data" / "ramq_codes.csv"


def invoke(app: Flask, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app))


def test_users_create_prints_a_generated_password(app: Flask) -> None:
    result = invoke(app, "users", "create", "agent@exemple.test", "--role", "editor")
    assert result.exit_code == 0, result.output
    assert "Mot de passe" in result.output
    with app.app_context():
        user = db.session.execute(select(User)).scalar_one()
        assert (user.email, user.role) == ("agent@exemple.test", "editor")
        password = result.output.split("Mot de passe : ")[1].strip()
        assert user.password_hash != password
    again = invoke(app, "users", "create", "agent@exemple.test", "--role", "viewer")
    assert again.exit_code != 0 and "existe déjà" in again.output


def test_tokens_create_stores_only_the_hash(app: Flask, client: Any) -> None:
    invoke(app, "users", "create", "agent@exemple.test", "--role", "viewer", "--password", "pw")
    result = invoke(app, "tokens", "create", "agent@exemple.test")
    token = result.output.strip()
    assert result.exit_code == 0 and token.startswith("vld_")
    with app.app_context():
        stored = db.session.execute(select(ApiToken)).scalar_one()
        assert token not in (stored.token_hash, stored.prefix)
    response = client.get("/api/validations", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_check_redis_reports_version(app: Flask) -> None:
    result = invoke(app, "check-redis")
    assert result.exit_code == 0, result.output
    assert "PONG" in result.output and "Version du serveur" in result.output


def test_check_redis_explains_an_outage_and_masks_the_password(app: Flask) -> None:
    original = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://:s3cret@127.0.0.1:1/0"
    try:
        result = invoke(app, "check-redis")
    finally:
        app.config["REDIS_URL"] = original
    assert result.exit_code == 1
    assert "injoignable" in result.output
    assert "s3cret" not in result.output and ":***@" in result.output


@pytest.mark.skipif(not SHARED_CODES.exists(), reason="shared/data is beside the clone")
def test_import_codes_is_idempotent(app: Flask) -> None:
    first = invoke(app, "import-codes", str(SHARED_CODES))
    second = invoke(app, "import-codes", str(SHARED_CODES))
    assert first.exit_code == 0 and second.exit_code == 0, first.output
    with app.app_context():
        count = db.session.execute(select(func.count()).select_from(RamqCode)).scalar_one()
        top = db.session.execute(
            select(RamqCode.top_level).where(RamqCode.billing_code == "9099")
        ).scalars().first()
    with SHARED_CODES.open(encoding="utf-8", newline="") as handle:
        pairs = {(r["billing_code"], r["place"]) for r in csv.DictReader(handle)}
    assert count == len(pairs) > 4000
    assert top == "A - PRÉAMBULE GÉNÉRAL"


def test_import_gmf_reads_lines_or_a_csv_column(app: Flask, tmp_path: Path) -> None:
    lines = tmp_path / "gmf.txt"
    lines.write_text("50001\n50002\n\n50001\n")
    table = tmp_path / "gmf.csv"
    table.write_text("numero;nom\n50003;GMF Test\n")
    assert invoke(app, "import-gmf", str(lines)).exit_code == 0
    assert invoke(app, "import-gmf", str(table)).exit_code == 0
    with app.app_context():
        numbers = db.session.execute(select(GmfEstablishment.number)).scalars().all()
    assert sorted(numbers) == ["50001", "50002", "50003"]


@pytest.mark.e2e
def test_validate_enqueues_and_a_burst_worker_completes_it(
    app: Flask, service_env: dict[str, str], tmp_path: Path
) -> None:
    invoke(app, "users", "create", "agent@exemple.test", "--role", "editor", "--password", "pw")
    csv_file = tmp_path / "facturation.csv"
    csv_file.write_bytes(billing_csv([act(n) for n in range(1, 21)], encoding="cp1252",
                                     delimiter=";"))
    enqueue = invoke(app, "validate", str(csv_file), "--user", "agent@exemple.test")
    assert enqueue.exit_code == 0, enqueue.output
    run_id = int(enqueue.output.split("Validation ")[1].split()[0])
    worker = subprocess.run([sys.executable, "-m", "validateur", "worker", "--burst"],
                            env=_env(service_env), capture_output=True, timeout=120)
    assert worker.returncode == 0, worker.stderr.decode()[-2000:]
    with app.app_context():
        run = db.session.get(ValidationRun, run_id)
        user = db.session.execute(select(User)).scalar_one()
        assert run is not None and run.status == "completed" and run.user_id == user.id
        assert run.total_rows == 20


@pytest.mark.e2e
def test_validate_wait_shows_progress_and_exits_0(
    app: Flask, service_env: dict[str, str], tmp_path: Path
) -> None:
    csv_file = tmp_path / "facturation.csv"
    csv_file.write_bytes(billing_csv([act(n) for n in range(1, 31)]))
    worker = start_rq_worker(service_env, tmp_path / "worker.log")
    try:
        waited = subprocess.run([sys.executable, "-m", "validateur", "validate", str(csv_file),
                                 "--wait"], env=_env(service_env), capture_output=True,
                                timeout=120)
    finally:
        stop(worker)
    output = waited.stdout.decode()
    assert waited.returncode == 0, output + waited.stderr.decode()[-2000:]
    assert "Validation" in output and "terminée : 30 lignes" in output


def _env(service_env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **service_env}
