"""The `validateur` commands, run against the session's real services."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import func, select

from tests.support.cli import assert_one_french_error, invoke
from tests.support.csvfiles import act, billing_csv
from tests.workers import VENV_BIN, start_rq_worker, stop
from validateur.cli import main, summary
from validateur.extensions import db
from validateur.models import ApiToken, GmfEstablishment, RamqCode, User, ValidationRun

SHARED_CODES = Path(__file__).resolve().parents[2] / "shared" / "data" / "ramq_codes.csv"


def run_cli(*args: str, env: dict[str, str], tmp_path: Path
            ) -> subprocess.CompletedProcess[str]:
    """`validateur …` as a shell runs it, with only `env` (and no dev stack to fall back on)."""
    clean = {"PATH": os.environ["PATH"], "HOME": str(tmp_path),
             "VALIDATEUR_INSTANCE_DIR": str(tmp_path / "no-dev-stack"), **env}
    return subprocess.run([str(VENV_BIN / "validateur"), *args], env=clean, capture_output=True,
                          text=True, timeout=60)


def test_users_create_prints_a_generated_password(app: Flask) -> None:
    result = invoke(app, "users", "create", "agent@exemple.test", "--role", "editor")
    assert result.exit_code == 0, result.output
    assert "Utilisateur créé : agent@exemple.test (éditeur)" in result.output
    assert "Mot de passe" in result.output
    with app.app_context():
        user = db.session.execute(select(User)).scalar_one()
        assert (user.email, user.role) == ("agent@exemple.test", "editor")
        password = result.output.split("Mot de passe : ")[1].strip()
        assert user.password_hash != password
    again = invoke(app, "users", "create", "agent@exemple.test", "--role", "viewer")
    assert_one_french_error(again, "existe déjà")


def test_users_create_refuses_a_bad_email_and_a_short_password(app: Flask) -> None:
    bad_email = invoke(app, "users", "create", "pasunmail", "--role", "editor")
    assert_one_french_error(bad_email, "adresse courriel invalide", "pasunmail")
    short = invoke(app, "users", "create", "agent@exemple.test", "--role", "editor",
                   "--password", "court123")
    assert_one_french_error(short, "au moins 12 caractères", "il en a 8")
    bad_role = invoke(app, "users", "create", "agent@exemple.test", "--role", "chef")
    assert_one_french_error(bad_role, "--role", "viewer, editor, manager, admin")
    assert bad_role.exit_code == 2
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(User)).scalar_one() == 0


def bare(*args: str, env: dict[str, str | None], tmp_path: Path) -> Result:
    """`validateur …` in-process, its app built from the environment as a shell's would be
    (`env` sets or, with None, unsets variables; no dev stack to fall back on)."""
    return CliRunner().invoke(main, list(args), env={
        "VALIDATEUR_INSTANCE_DIR": str(tmp_path / "no-dev-stack"), "SECRET_KEY": "k", **env},
        prog_name="validateur")


def test_a_command_without_configuration_says_so_in_one_line(tmp_path: Path) -> None:
    """Nothing exported and no dev stack: one French line, no traceback (was two)."""
    nothing = run_cli("users", "create", "agent@exemple.test", "--role", "admin", env={},
                      tmp_path=tmp_path)
    assert_one_french_error(nothing, "configuration", "SECRET_KEY")
    no_database = bare("users", "create", "agent@exemple.test", "--role", "admin",
                       env={"DATABASE_URL": None, "REDIS_URL": None}, tmp_path=tmp_path)
    assert_one_french_error(no_database, "configuration", "DATABASE_URL")
    unreachable = bare("users", "create", "agent@exemple.test", "--role", "admin",
                       env={"DATABASE_URL": "postgresql://u:s3cret@127.0.0.1:1/x"},
                       tmp_path=tmp_path)
    assert_one_french_error(unreachable, "PostgreSQL est injoignable", "u:***@")
    assert "s3cret" not in unreachable.stderr
    unknown = bare("nope", env={"DATABASE_URL": None}, tmp_path=tmp_path)
    assert_one_french_error(unknown, "commande inconnue : nope")
    missing_file = bare("validate", str(tmp_path / "absent.csv"), env={}, tmp_path=tmp_path)
    assert_one_french_error(missing_file, "fichier introuvable")


def test_help_texts_are_french(tmp_path: Path) -> None:
    for args in ([], ["users", "create"], ["tokens", "revoke"], ["validate"], ["dev"],
                 ["check-redis"], ["import-codes"]):
        shown = bare(*args, "--help", env={"DATABASE_URL": None}, tmp_path=tmp_path)
        assert shown.exit_code == 0, shown.output
        assert "Utilisation : validateur" in shown.stdout
        assert "Afficher cette aide et quitter." in shown.stdout
        assert "Show this message" not in shown.stdout and "Usage:" not in shown.stdout
    dev_help = bare("dev", "--help", env={}, tmp_path=tmp_path).stdout
    assert "--port" in dev_help and "par défaut : 5000" in dev_help


def test_tokens_create_stores_only_the_hash(app: Flask, client: Any) -> None:
    invoke(app, "users", "create", "agent@exemple.test", "--role", "viewer")
    result = invoke(app, "tokens", "create", "agent@exemple.test")
    token = result.stdout.strip()
    assert result.exit_code == 0 and token.startswith("vld_")
    assert f"préfixe {token[:12]}" in result.stderr  # how to revoke it later, on stderr
    with app.app_context():
        stored = db.session.execute(select(ApiToken)).scalar_one()
        assert token not in (stored.token_hash, stored.prefix)
    response = client.get("/api/validations", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_tokens_are_revoked_without_the_secret_on_the_command_line(
    app: Flask, client: Any
) -> None:
    invoke(app, "users", "create", "agent@exemple.test", "--role", "viewer")
    by_prefix, by_number, by_stdin, kept = (
        invoke(app, "tokens", "create", "agent@exemple.test").stdout.strip() for _ in range(4))
    listed = invoke(app, "tokens", "list")
    assert listed.exit_code == 0 and by_prefix[:12] in listed.output
    assert by_prefix not in listed.output  # never the token itself
    with app.app_context():
        number = db.session.execute(select(ApiToken.id).where(
            ApiToken.prefix == by_number[:12])).scalar_one()
    assert invoke(app, "tokens", "revoke", by_prefix[:12]).exit_code == 0
    assert invoke(app, "tokens", "revoke", str(number)).exit_code == 0
    assert invoke(app, "tokens", "revoke", "-", stdin=by_stdin + "\n").exit_code == 0
    for token, status in ((by_prefix, 401), (by_number, 401), (by_stdin, 401), (kept, 200)):
        response = client.get("/api/validations", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == status
    again = invoke(app, "tokens", "revoke", by_prefix[:12])
    assert_one_french_error(again, "aucun jeton actif")
    everything = invoke(app, "tokens", "revoke", "--user", "agent@exemple.test")
    assert everything.exit_code == 0 and "1 jeton révoqué." in everything.output
    assert "révoqué le" in invoke(app, "tokens", "list").output


def test_check_redis_reports_version(app: Flask, service_env: dict[str, str]) -> None:
    result = invoke(app, "check-redis", env={"REDIS_URL": service_env["REDIS_URL"]})
    assert result.exit_code == 0, result.output
    assert "PONG" in result.output and "Version du serveur" in result.output


def test_check_redis_needs_only_redis_url(service_env: dict[str, str], tmp_path: Path) -> None:
    checked = run_cli("check-redis", env={"REDIS_URL": service_env["REDIS_URL"]},
                      tmp_path=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "PONG" in checked.stdout
    assert_one_french_error(run_cli("check-redis", env={}, tmp_path=tmp_path), "REDIS_URL")


def test_check_redis_explains_an_outage_and_masks_the_password(app: Flask) -> None:
    result = invoke(app, "check-redis", env={"REDIS_URL": "redis://:s3cret@127.0.0.1:1/0"})
    assert result.exit_code == 1
    assert "injoignable" in result.output
    assert "s3cret" not in result.output and ":***@" in result.output


def test_validate_without_redis_is_a_configuration_error(app: Flask, tmp_path: Path) -> None:
    csv_file = tmp_path / "facturation.csv"
    csv_file.write_bytes(billing_csv([act(1)]))
    original = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = ""
    try:
        result = invoke(app, "validate", str(csv_file))
    finally:
        app.config["REDIS_URL"] = original
    assert_one_french_error(result, "configuration", "REDIS_URL")
    assert "réessayez" not in result.stderr
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(ValidationRun)
                                  ).scalar_one() == 0
    assert not any(Path(app.config["VALIDATEUR_UPLOAD_DIR"]).iterdir())


def test_the_summary_writes_numbers_money_and_plurals_the_quebec_way() -> None:
    run = ValidationRun(id=12, status="completed", total_rows=100_000, error_count=1,
                        warning_count=0, optimization_count=2,
                        potential_gain=Decimal("675420.90"))
    assert summary(run) == (
        "Validation 12 terminée : 100\u202f000 lignes, 1 erreur, 0 avertissement, "
        "2 optimisations, gain potentiel 675\u202f420,90\u00a0$"
    )
    failed = ValidationRun(id=13, status="failed", error_message="Colonnes obligatoires absentes")
    assert summary(failed) == "Validation 13 — échouée : Colonnes obligatoires absentes"


def test_import_codes_reads_a_windows_1252_file(app: Flask, tmp_path: Path) -> None:
    table = tmp_path / "codes.csv"
    table.write_bytes(
        "billing_code,place,tariff_value,top_level,description\r\n"
        "9099,cabinet,206.55,A - PRÉAMBULE GÉNÉRAL,Déplacement d'urgence\r\n"
        "9099,établissement,208.60,A - PRÉAMBULE GÉNÉRAL,Déplacement d'urgence\r\n"
        .encode("cp1252"))
    result = invoke(app, "import-codes", str(table))
    assert result.exit_code == 0, result.output
    assert "2 codes (code, lieu) chargés." in result.output
    with app.app_context():
        rows = db.session.execute(select(RamqCode.place, RamqCode.top_level)).all()
    assert sorted(rows) == [("cabinet", "A - PRÉAMBULE GÉNÉRAL"),
                            ("établissement", "A - PRÉAMBULE GÉNÉRAL")]
    wrong = tmp_path / "autre.csv"
    wrong.write_text("code;lieu\n9099;cabinet\n")
    assert_one_french_error(invoke(app, "import-codes", str(wrong)), "colonnes absentes")


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
    invoke(app, "users", "create", "agent@exemple.test", "--role", "editor")
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
