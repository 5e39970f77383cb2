"""People and PHI at the HTTP boundary: the role matrix, CSRF, limits, headers, tokens."""

from __future__ import annotations

import io
import os
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.api import Person, upload_csv
from tests.support.cli import invoke
from tests.support.csvfiles import act, billing_csv
from tests.support.people import member, user_of
from validateur import auth, create_app, organizations
from validateur.config import load
from validateur.extensions import db

ANONYMOUS, VIEWER, OWNER, COLLEAGUE, MANAGER, OUTSIDER, ADMIN = (
    "anonymous", "viewer", "owner", "colleague", "manager", "outsider", "admin")
ACTORS = (ANONYMOUS, VIEWER, OWNER, COLLEAGUE, MANAGER, OUTSIDER, ADMIN)
CLINIC, AGENCY = "Clinique du Vieux-Québec", "Agence Facturation Plus"


def _expect(anonymous: int, viewer: int, owner: int, colleague: int, manager: int,
            outsider: int, admin: int) -> dict[str, int]:
    return dict(zip(ACTORS, (anonymous, viewer, owner, colleague, manager, outsider, admin),
                    strict=True))


# (method, path, expected status per actor). The run ({run}) is OWNER's; VIEWER, OWNER (an
# editor), COLLEAGUE (an editor) and MANAGER are members of one clinic ({org}), whose member
# {member} (a viewer) the people routes act on; OUTSIDER manages another organization.
MATRIX: list[tuple[str, str, dict[str, int]]] = [
    ("GET", "/api/validations", _expect(401, 200, 200, 200, 200, 200, 200)),
    ("POST", "/api/validations", _expect(401, 403, 202, 202, 202, 202, 202)),
    ("GET", "/api/validations/{run}", _expect(401, 200, 200, 200, 200, 404, 200)),
    ("GET", "/api/validations/{run}/results", _expect(401, 200, 200, 200, 200, 404, 200)),
    ("GET", "/api/validations/{run}/results.csv", _expect(401, 200, 200, 200, 200, 404, 200)),
    ("GET", "/api/validations/{run}/logs", _expect(401, 200, 200, 200, 200, 404, 200)),
    ("POST", "/api/validations/{run}/cancel", _expect(401, 403, 200, 200, 200, 404, 200)),
    ("DELETE", "/api/validations/{run}", _expect(401, 403, 204, 204, 204, 404, 204)),
    ("GET", "/api/health", _expect(200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/", _expect(302, 200, 200, 200, 200, 200, 200)),
    ("POST", "/upload", _expect(302, 403, 302, 302, 302, 302, 302)),
    ("GET", "/runs", _expect(302, 200, 200, 200, 200, 200, 200)),
    ("GET", "/runs/{run}", _expect(302, 200, 200, 200, 200, 404, 200)),
    ("GET", "/runs/{run}/cancel", _expect(302, 403, 200, 200, 200, 404, 200)),
    ("POST", "/runs/{run}/cancel", _expect(302, 403, 302, 302, 302, 404, 302)),
    ("POST", "/runs/{run}/delete", _expect(302, 403, 302, 302, 302, 404, 302)),
    ("GET", "/organization", _expect(302, 403, 403, 403, 200, 200, 302)),
    ("POST", "/organizations/{org}/members", _expect(302, 403, 403, 403, 200, 404, 200)),
    ("POST", "/members/{member}/role", _expect(302, 403, 403, 403, 302, 404, 302)),
    ("GET", "/members/{member}/disable", _expect(302, 403, 403, 403, 200, 404, 200)),
    ("POST", "/members/{member}/disable", _expect(302, 403, 403, 403, 302, 404, 302)),
    ("POST", "/members/{member}/enable", _expect(302, 403, 403, 403, 302, 404, 302)),
    ("POST", "/members/{member}/password", _expect(302, 403, 403, 403, 200, 404, 200)),
    ("GET", "/admin/", _expect(302, 403, 403, 403, 403, 403, 200)),
    ("GET", "/admin/organizations/{org}", _expect(302, 403, 403, 403, 403, 403, 200)),
    ("POST", "/admin/organizations/{org}/disable", _expect(302, 403, 403, 403, 403, 403, 302)),
    ("GET", "/admin/rq/", _expect(302, 403, 403, 403, 403, 403, 200)),
    ("POST", "/admin/rq/job/validation-{run}/delete", _expect(302, 403, 403, 403, 403, 403,
                                                              403)),
    ("GET", "/login", _expect(200, 302, 302, 302, 302, 302, 302)),  # logged in: the upload page
]


def _people(app: Flask) -> dict[str, Person | None]:
    return {ANONYMOUS: None, VIEWER: member(app, "viewer", CLINIC),
            OWNER: member(app, "editor", CLINIC), COLLEAGUE: member(app, "editor", CLINIC),
            MANAGER: member(app, "manager", CLINIC), OUTSIDER: member(app, "manager", AGENCY),
            ADMIN: member(app, "admin", None)}


def _form(method: str, path: str) -> tuple[dict[str, Any] | None, str | None]:
    """The body a POST of the matrix sends: a file to upload, a role, a new member."""
    if method != "POST":
        return None, None
    if path in ("/api/validations", "/upload"):
        return {"file": (io.BytesIO(billing_csv([act(1)])), "f.csv")}, "multipart/form-data"
    if path.endswith("/role"):
        return {"role": "editor"}, None
    if path.endswith("/members"):
        return {"email": f"nouveau-{os.urandom(3).hex()}@exemple.test", "role": "viewer"}, None
    return None, None


def _request(client: FlaskClient, method: str, path: str, person: Person | None) -> Any:
    is_api = path.startswith("/api/")
    if person is not None and not is_api:
        client.post("/login", data={"email": person.email, "password": person.password})
    headers = person.headers if person is not None and is_api else {}
    data, content_type = _form(method, path)
    return client.open(path, method=method, headers=headers, data=data,
                       content_type=content_type)


@pytest.mark.parametrize(("method", "template", "expected"), MATRIX,
                         ids=[f"{m} {p}" for m, p, _ in MATRIX])
def test_role_matrix(app: Flask, method: str, template: str,
                     expected: dict[str, int]) -> None:
    people = _people(app)
    owner = people[OWNER]
    assert owner is not None
    target = member(app, "viewer", CLINIC)
    target_id, org_id = user_of(app, target)
    for actor in ACTORS:
        client = app.test_client()
        run_id = upload_csv(client, owner, billing_csv([act(1)])).get_json()["validationId"]
        path = template.format(run=run_id, member=target_id, org=org_id)
        response = _request(client, method, path, people[actor])
        response.get_data()  # a streamed body (CSV export) holds its transaction until read
        response.close()
        assert response.status_code == expected[actor], (actor, method, template)
        if template.startswith("/api/") and response.status_code >= 400:
            assert set(response.get_json()) == {"error"}
        if "/disable" in template and method == "POST":  # the next actor finds them active
            with app.app_context():
                organization = organizations.find(CLINIC)
                assert organization is not None
                organizations.update(organization, active=True)
                invoke(app, "users", "set", target.email, "--enable")


def test_two_clerks_of_a_clinic_see_each_others_runs_and_not_an_agencys(
        client: FlaskClient, app: Flask) -> None:
    first, second = member(app, "editor", CLINIC), member(app, "viewer", CLINIC)
    agency = member(app, "editor", AGENCY)
    mine = upload_csv(client, first, billing_csv([act(1)]), "clinique.csv").get_json()
    theirs = upload_csv(client, agency, billing_csv([act(1)]), "agence.csv").get_json()
    listed = client.get("/api/validations", headers=second.headers).get_json()["items"]
    assert [item["id"] for item in listed] == [mine["validationId"]]
    assert listed[0]["owner"] == first.email and listed[0]["organization"] == CLINIC
    one = client.get(f"/api/validations/{mine['validationId']}", headers=second.headers)
    assert (one.get_json()["owner"], one.get_json()["organization"]) == (first.email, CLINIC)
    assert client.get(f"/api/validations/{theirs['validationId']}",
                      headers=second.headers).status_code == 404
    client.post("/login", data={"email": second.email, "password": second.password})
    page = client.get("/runs").get_data(as_text=True)
    assert "clinique.csv" in page and "agence.csv" not in page
    assert first.email in page  # whose run it is, among several clerks


def test_admins_filter_the_runs_by_organization(client: FlaskClient, app: Flask) -> None:
    clinic, agency = member(app, "editor", CLINIC), member(app, "editor", AGENCY)
    admin = member(app, "admin", None)
    upload_csv(client, clinic, billing_csv([act(1)]), "clinique.csv")
    upload_csv(client, agency, billing_csv([act(1)]), "agence.csv")
    every = client.get("/api/validations", headers=admin.headers).get_json()["items"]
    assert {item["organization"] for item in every} == {CLINIC, AGENCY}
    only = client.get("/api/validations", query_string={"organization": AGENCY},
                      headers=admin.headers).get_json()["items"]
    assert [item["fileName"] for item in only] == ["agence.csv"]
    nobody = client.get("/api/validations", query_string={"organization": "Inconnue"},
                        headers=admin.headers).get_json()
    assert nobody["items"] == [] and nobody["total"] == 0
    # A member's filter never widens what they see.
    foreign = client.get("/api/validations", query_string={"organization": AGENCY},
                         headers=clinic.headers).get_json()
    assert foreign["items"] == []


def test_a_second_agency_sees_nothing_of_the_first(client: FlaskClient, make_person: Any) -> None:
    first, second = make_person("editor"), make_person("editor")
    upload_csv(client, first, billing_csv([act(1)], ))
    assert client.get("/api/validations", headers=second.headers).get_json()["items"] == []
    client.post("/login", data={"email": second.email, "password": second.password})
    assert "f.csv" not in client.get("/runs").get_data(as_text=True)


def test_pages_and_api_carry_the_security_headers(client: FlaskClient, editor: Person) -> None:
    for path in ("/login", "/api/health"):
        response = client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"


def test_every_page_and_answer_but_static_files_is_no_store(app: Flask, editor: Person) -> None:
    admin_client, client = app.test_client(), app.test_client()
    run_id = upload_csv(client, editor, billing_csv([act(1)])).get_json()["validationId"]
    client.post("/login", data={"email": editor.email, "password": editor.password})
    for path in ("/", "/runs", f"/runs/{run_id}", "/login", "/api/health",
                 f"/api/validations/{run_id}/results.csv", "/no-such-page"):
        response = client.get(path)
        response.get_data()
        assert response.headers["Cache-Control"] == "no-store", path
    assert "no-store" not in client.get("/static/app.css").headers.get("Cache-Control", "")
    assert admin_client.get("/admin/").headers["Cache-Control"] == "no-store"


def test_hsts_only_when_the_request_came_over_https(client: FlaskClient) -> None:
    secure = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in client.get("/login").headers


def test_redirects_never_reflect_the_host_header(client: FlaskClient) -> None:
    for headers in ({"Host": "evil.example"}, {"X-Forwarded-Host": "evil.example"}):
        location = client.get("/runs", headers=headers).headers["Location"]
        assert location.startswith("/login") and "evil" not in location


def test_untrusted_hosts_are_refused_when_trusted_hosts_are_set(
        service_env: dict[str, str]) -> None:
    strict = create_app({"TRUSTED_HOSTS": ["validateur.example"]})
    client = strict.test_client()
    assert client.get("/login", headers={"Host": "validateur.example"}).status_code == 200
    assert client.get("/login", headers={"Host": "evil.example"}).status_code == 400
    assert load({"DATABASE_URL": "postgresql://u@h/db", "SECRET_KEY": "x",
                 "VALIDATEUR_TRUSTED_HOSTS": "a.example, b.example"}
                )["TRUSTED_HOSTS"] == ["a.example", "b.example"]


def test_templates_have_no_inline_script_or_style(app: Flask) -> None:
    from pathlib import Path

    for template in Path(app.template_folder or "").rglob("*.html"):
        text = template.read_text()
        assert "<script>" not in text and " style=" not in text and "<style" not in text, template
        assert " on" + "click=" not in text


def test_production_cookies_are_secure_httponly_samesite() -> None:
    env = {"DATABASE_URL": "postgresql://u@h/db", "SECRET_KEY": "x" * 32}
    config = load(env)
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_production_refuses_to_start_without_secret_key() -> None:
    from validateur.config import ConfigError

    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load({"DATABASE_URL": "postgresql://u@h/db"})


def test_forms_need_the_csrf_token(service_env: dict[str, str], editor: Person) -> None:
    strict = create_app()  # CSRF on, as in production
    client = strict.test_client()
    response = client.post("/login", data={"email": editor.email, "password": editor.password})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)


def test_uploads_are_rate_limited_per_user(app: Flask, client: FlaskClient,
                                          make_person: Any) -> None:
    app.config["VALIDATEUR_UPLOAD_RATE_LIMIT"] = "2/minute"
    try:
        busy, calm = make_person("editor"), make_person("editor")
        statuses = [upload_csv(client, busy, billing_csv([act(1)])).status_code for _ in range(3)]
        assert statuses == [202, 202, 429]
        limited = upload_csv(client, busy, billing_csv([act(1)]))
        assert "Trop de requêtes" in limited.get_json()["error"]["message"]
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert upload_csv(client, calm, billing_csv([act(1)])).status_code == 202
    finally:
        app.config["VALIDATEUR_UPLOAD_RATE_LIMIT"] = "30/minute"


def test_the_page_and_the_api_share_one_upload_counter(app: Flask, editor: Person) -> None:
    """Two routes, one limit: 3/minute is 3 uploads in all, not 3 on each."""
    app.config["VALIDATEUR_UPLOAD_RATE_LIMIT"] = "3/minute"
    try:
        browser, api = app.test_client(), app.test_client()
        browser.post("/login", data={"email": editor.email, "password": editor.password})
        statuses = []
        for n in range(4):
            data = {"file": (io.BytesIO(billing_csv([act(1)])), "f.csv")}
            if n % 2:
                statuses.append(browser.post("/upload", data=data,
                                             content_type="multipart/form-data").status_code)
            else:
                statuses.append(upload_csv(api, editor, billing_csv([act(1)])).status_code)
    finally:
        app.config["VALIDATEUR_UPLOAD_RATE_LIMIT"] = "30/minute"
    assert statuses == [202, 302, 202, 429]


def test_logins_are_throttled(app: Flask, client: FlaskClient, editor: Person) -> None:
    app.config["VALIDATEUR_LOGIN_RATE_LIMIT"] = "3/minute"
    try:
        codes = [client.post("/login", data={"email": editor.email, "password": "faux"}
                             ).status_code for _ in range(4)]
    finally:
        app.config["VALIDATEUR_LOGIN_RATE_LIMIT"] = "10/minute"
    assert codes == [401, 401, 401, 429]


def test_revoked_token_is_refused(app: Flask, client: FlaskClient, editor: Person) -> None:
    from tests.support.cli import invoke

    assert client.get("/api/validations", headers=editor.headers).status_code == 200
    result = invoke(app, "tokens", "revoke", editor.token)
    assert result.exit_code == 0, result.output
    assert client.get("/api/validations", headers=editor.headers).status_code == 401
    assert invoke(app, "tokens", "revoke", editor.token).exit_code != 0


def test_a_deactivated_users_token_is_refused(app: Flask, client: FlaskClient,
                                              editor: Person) -> None:
    assert client.get("/api/validations", headers=editor.headers).status_code == 200
    with app.app_context():
        user = auth.find_user(editor.email)
        assert user is not None
        user.active = False
        db.session.commit()
    assert client.get("/api/validations", headers=editor.headers).status_code == 401
    assert upload_csv(client, editor, billing_csv([act(1)])).status_code == 401


def test_413_is_a_clean_french_page_for_the_form(app: Flask, client: FlaskClient,
                                                 editor: Person) -> None:
    client.post("/login", data={"email": editor.email, "password": editor.password})
    limit = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 5_000
    try:
        response = client.post("/upload", data={"file": (io.BytesIO(b"x" * 20_000), "f.csv")},
                               content_type="multipart/form-data")
    finally:
        app.config["MAX_CONTENT_LENGTH"] = limit
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "taille maximale" in page and "Traceback" not in page
