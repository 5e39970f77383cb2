"""PostgreSQL unreachable: 503 on pages and API with a French message, never a stack trace."""

from __future__ import annotations

from flask import Flask

from validateur import create_app
from validateur.config import load


def _app_without_database(service_env: dict[str, str]) -> Flask:
    config = load({**service_env, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nothing"})
    config["WTF_CSRF_ENABLED"] = False
    return create_app(config)


def test_api_answers_503_json(service_env: dict[str, str]) -> None:
    client = _app_without_database(service_env).test_client()
    response = client.get("/api/validations", headers={"Authorization": "Bearer vld_x"})
    assert response.status_code == 503
    body = response.get_json()
    assert body["error"]["code"] == "database_unavailable"
    assert "base de données" in body["error"]["message"]
    health = client.get("/api/health")
    assert health.status_code == 503 and health.get_json()["database"] == "down"


def test_pages_answer_a_french_503(service_env: dict[str, str]) -> None:
    client = _app_without_database(service_env).test_client()
    response = client.post("/login", data={"email": "a@exemple.test", "password": "x"})
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "base de données est indisponible" in page
    assert "Traceback" not in page and "psycopg" not in page
