"""The migrations build exactly the schema the models declare, and move existing data."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import text

from tests import services as test_services
from tests.support.apps import app_for
from validateur.extensions import db


def test_the_migrated_database_matches_the_models(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


#: The revision before organizations: the data of an existing installation is written there.
BEFORE_ORGANIZATIONS = "c4e8a1d5f920"


@pytest.fixture()
def blank_database(services: test_services.TestServices,
                   service_env: dict[str, str]) -> Iterator[str]:
    """A database of its own, empty, dropped afterwards."""
    name = f"validateur_migration_{secrets.token_hex(4)}"
    with psycopg.connect(services.admin_database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield service_env["DATABASE_URL"].rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(services.admin_database_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_existing_users_and_runs_get_an_organization_of_their_own(
        service_env: dict[str, str], blank_database: str) -> None:
    from flask_migrate import downgrade, upgrade

    app = app_for({**service_env, "DATABASE_URL": blank_database})
    with app.app_context():
        upgrade(revision=BEFORE_ORGANIZATIONS)
        db.session.execute(text(
            "INSERT INTO users (id, email, password_hash, role, active, created_at) VALUES "
            "(1, 'a@exemple.test', 'x', 'editor', true, now()), "
            "(2, 'b@exemple.test', 'x', 'viewer', true, now()), "
            "(3, 'ops@exemple.test', 'x', 'admin', true, now())"))
        db.session.execute(text(
            "INSERT INTO validation_runs (id, user_id, status, phase, progress, file_name, "
            "file_size, total_rows, processed_rows, error_count, warning_count, "
            "optimization_count, info_count, potential_gain, money_at_risk, attempts, "
            "cancel_requested, created_at) SELECT id, owner, 'completed', 'done', 100, 'f.csv', "
            "1, 0, 0, 0, 0, 0, 0, 0, 0, 1, false, now() FROM (VALUES (10, 1), (11, 1), (12, 2), "
            "(13, 3), (14, NULL)) AS runs (id, owner)"))
        db.session.commit()
        upgrade()
        users = dict(db.session.execute(text(
            "SELECT users.email, organizations.name FROM users "
            "LEFT JOIN organizations ON organizations.id = users.organization_id")).tuples().all())
        assert users == {"a@exemple.test": "a@exemple.test", "b@exemple.test": "b@exemple.test",
                         "ops@exemple.test": None}
        runs = dict(db.session.execute(text(
            "SELECT validation_runs.id, organizations.name FROM validation_runs "
            "LEFT JOIN organizations ON organizations.id = validation_runs.organization_id"
        )).tuples().all())
        assert runs == {10: "a@exemple.test", 11: "a@exemple.test", 12: "b@exemple.test",
                        13: None, 14: None}
        plans = db.session.execute(text(
            "SELECT DISTINCT plan, max_parallel, active FROM organizations")).all()
        assert [tuple(row) for row in plans] == [("standard", 2, True)]
        db.session.remove()
        downgrade(revision=BEFORE_ORGANIZATIONS)  # and back: the revision undoes itself
        assert db.session.execute(text("SELECT count(*) FROM users")).scalar_one() == 3
        db.session.remove()
        db.engine.dispose()


#: The revision before `run_practices`: rows then kept their practice texts each.
BEFORE_RUN_PRACTICES = "f7a2c9e4d1b8"


def test_rows_stored_before_run_practices_read_the_same_and_new_rows_go_back(
        service_env: dict[str, str], blank_database: str) -> None:
    from flask_migrate import downgrade, upgrade

    contract = ("SELECT validation_run_id, row_number, lieu_pratique, secteur_activite,"
                " doctor_info, patient FROM billing_records ORDER BY 1, 2")
    app = app_for({**service_env, "DATABASE_URL": blank_database})
    with app.app_context():
        upgrade(revision=BEFORE_RUN_PRACTICES)
        db.session.execute(text(
            "INSERT INTO billing_records (validation_run_id, row_number, lieu_pratique,"
            " secteur_activite, doctor_info, patient) VALUES"
            " (1, 1, '50001', 'Aucun Secteur', '1234567 - Dr. TEST', 'TEST1'),"
            " (1, 2, '', '', '', 'TEST2')"))
        db.session.commit()
        before = db.session.execute(text(contract)).all()
        db.session.commit()
        upgrade()
        assert db.session.execute(text(contract)).all() == before
        db.session.execute(text(
            "INSERT INTO run_practices VALUES (2, 1, '7654321 - Dr. ESSAI', '50002', 'Urgence')"))
        db.session.execute(text(
            "INSERT INTO billing_rows (validation_run_id, row_number, practice, doctor_info,"
            " lieu_pratique, secteur_activite, patient) VALUES (2, 1, 1, '', '', '', 'TEST3')"))
        db.session.commit()
        after = db.session.execute(text(contract)).all()
        assert after == [*before, (2, 1, "50002", "Urgence", "7654321 - Dr. ESSAI", "TEST3")]
        db.session.remove()
        downgrade(revision=BEFORE_RUN_PRACTICES)  # the numbered texts go back on their row
        assert db.session.execute(text(contract)).all() == after
        db.session.remove()
        db.engine.dispose()
