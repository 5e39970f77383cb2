"""Fixtures: the app on real services, an isolated database per session, people.

Helpers that test modules import live in `tests/support/` (no module imports a conftest).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from tests.services import TestServices
from tests.support.api import Person

TABLES = ("billing_rows", "run_practices", "validation_results", "validation_logs",
          "validation_runs", "api_tokens", "users", "organizations", "ramq_codes",
          "gmf_establishments")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under `pytest -n N --dist loadgroup`: a module's tests stay on one xdist worker (its
    module fixtures start once), and the browser package's on one (it shares a live site)."""
    for item in items:
        parts = item.path.parts
        group = "browser" if "browser" in parts else str(item.path)
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestServices]:
    found = TestServices(tmp_path_factory.mktemp("services"))
    found.start()
    yield found
    found.stop()


@pytest.fixture(scope="session")
def service_env(services: TestServices, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for the app and for worker subprocesses of this session."""
    env = {
        "DATABASE_URL": services.database_url,
        "REDIS_URL": services.redis_url,
        "VALIDATEUR_TESTING": "1",
        "SECRET_KEY": "test-secret-key",
        "VALIDATEUR_QUEUE": services.queue,
        "VALIDATEUR_UPLOAD_DIR": str(tmp_path_factory.mktemp("uploads")),
    }
    os.environ.update(env)
    return env


@pytest.fixture(scope="session")
def app(service_env: dict[str, str]) -> Iterator[Flask]:
    from flask_migrate import upgrade

    from validateur import create_app

    application = create_app({"WTF_CSRF_ENABLED": False})
    with application.app_context():
        upgrade()
    yield application
    from validateur.extensions import db

    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean_tables(request: pytest.FixtureRequest) -> Iterator[None]:
    """Empty the tables and the queue after each test that used the app.

    Ids keep growing, so job ids differ. A job left queued by a test without a worker would
    otherwise wait for the next module's worker, ahead of that module's own jobs.
    """
    yield
    if "app" not in request.fixturenames:
        return
    app: Flask = request.getfixturevalue("app")
    from validateur.extensions import db
    from validateur.queue import get_queues, redis_manager

    with app.app_context():
        db.session.remove()
        db.session.execute(text(f"TRUNCATE {', '.join(TABLES)} CASCADE"))
        db.session.commit()
        for queued in get_queues():
            queued.empty()
        connection = redis_manager().client  # rate-limit slots and waiting sets, sweep lock
        stale = [*connection.scan_iter("rq:rl*"), *connection.scan_iter("validateur:maint*")]
        if stale:
            connection.delete(*stale)
    upload_dir = Path(app.config["VALIDATEUR_UPLOAD_DIR"])
    for leftover in upload_dir.glob("*"):
        leftover.unlink()


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture()
def app_ctx(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


@pytest.fixture()
def make_person(app: Flask) -> Any:
    from validateur import auth
    from validateur.models import Role

    def _make(role: str = "editor", email: str | None = None) -> Person:
        with app.app_context():
            address = email or f"{role}-{os.urandom(3).hex()}@exemple.test"
            user, password = auth.create_user(address, Role(role))
            return Person(address, role, auth.create_token(user), password)

    return _make


@pytest.fixture()
def editor(make_person: Any) -> Person:
    person: Person = make_person("editor")
    return person
