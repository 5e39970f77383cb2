"""rq-dashboard behind our guard: admins only, read-only, its own URL shapes only, its CSP."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.api import Person, upload_csv
from tests.support.csvfiles import act, billing_csv

XSS = "x');fetch('/api/validations/1',{method:'DELETE'});('"


@pytest.fixture()
def admin_client(app: Flask, make_person: Any) -> FlaskClient:
    admin: Person = make_person("admin")
    client = app.test_client()
    client.post("/login", data={"email": admin.email, "password": admin.password})
    return client


def _queue(app: Flask) -> str:
    name: str = app.config["VALIDATEUR_QUEUE"]
    return name


@pytest.mark.parametrize("path", [
    "/admin/rq/0/view/jobs/{xss}/queued/8/asc/1", "/admin/rq/0/view/jobs/{queue}/{xss}/8/asc/1",
    "/admin/rq/0/data/jobs/{xss}/queued/8/asc/1.json", "/admin/rq/0/view/job/{xss}",
    "/admin/rq/0/view/jobs/{queue}/queued/8/sideways/1", "/admin/rq/1/view/queues",
    "/admin/rq/0/view/jobs/unknown-queue/queued/8/asc/1", "/admin/rq/requeue/{queue}",
    "/admin/rq/0/view/jobs/{queue}/queued/-8/asc/1", "/admin/rq/static/../web.py",
])
def test_only_the_dashboards_own_urls_with_known_parts_reach_it(
        app: Flask, admin_client: FlaskClient, path: str) -> None:
    response = admin_client.get(path.format(xss=quote(XSS, safe=""), queue=_queue(app)))
    assert response.status_code == 404
    assert "fetch(" not in response.get_data(as_text=True)


def test_the_dashboards_pages_still_open(app: Flask, admin_client: FlaskClient,
                                          editor: Person) -> None:
    run_id = upload_csv(app.test_client(), editor, billing_csv([act(1)])).get_json()[
        "validationId"]
    queue = _queue(app)
    for path in ("/admin/rq/", "/admin/rq/0/view/workers", "/admin/rq/0/view/jobs",
                 f"/admin/rq/0/view/jobs/{queue}/queued/8/asc/1",
                 f"/admin/rq/0/view/job/validation-{run_id}", "/admin/rq/0/data/queues.json",
                 f"/admin/rq/0/data/jobs/{queue}/failed/8/dsc/1.json",
                 f"/admin/rq/0/data/job/validation-{run_id}.json",
                 "/admin/rq/static/js/jquery-3.5.1.min.js", "/admin/rq/static/css/main.css"):
        assert admin_client.get(path).status_code == 200, path


def test_the_dashboard_policy_allows_its_one_script_by_hash_and_nothing_inline(
        app: Flask, admin_client: FlaskClient) -> None:
    response = admin_client.get(f"/admin/rq/0/view/jobs/{_queue(app)}/queued/8/asc/1")
    csp = response.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" in csp
    assert "frame-ancestors 'none'" in csp and "form-action 'none'" in csp
    scripts = re.findall(rb'<script type="text/javascript">(.*?)</script>',
                         response.get_data(), re.DOTALL)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0]).digest()).decode()
    assert f"'sha256-{digest}'" in csp.split("script-src", 1)[1].split(";", 1)[0]
    assert response.headers["Cache-Control"] == "no-store"


def test_our_pages_keep_the_strict_policy(admin_client: FlaskClient) -> None:
    csp = admin_client.get("/admin/").headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "unsafe" not in csp
