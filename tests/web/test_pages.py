"""The French pages: login, upload (plain form), runs list, run page."""

from __future__ import annotations

import io
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import Person, upload_csv
from tests.csvfiles import act, billing_csv


def login(client: FlaskClient, person: Person) -> Any:
    return client.post("/login", data={"email": person.email, "password": person.password})


def test_pages_require_login(client: FlaskClient) -> None:
    for path in ("/", "/runs", "/runs/1", "/admin/"):
        response = client.get(path)
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]


def test_login_page_is_french_and_rejects_bad_password(client: FlaskClient,
                                                      editor: Person) -> None:
    assert "Connexion" in client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"email": editor.email, "password": "faux"})
    assert "Courriel ou mot de passe invalide" in response.get_data(as_text=True)


def test_login_then_upload_with_the_plain_form(app: Flask, client: FlaskClient,
                                               editor: Person) -> None:
    assert login(client, editor).status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "Glissez-déposez" in page and 'type="file"' in page
    response = client.post(
        "/upload",
        data={"file": (io.BytesIO(billing_csv([act(1)])), "<img src=x onerror=alert(1)>.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    run_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'class="status queued"' in run_page
    assert "&lt;img src=x onerror=alert(1)&gt;.csv" in run_page and "<img" not in run_page
    runs = client.get("/runs").get_data(as_text=True)
    assert "&lt;img src=x onerror=alert(1)&gt;.csv" in runs


def test_plain_form_rejects_a_bad_file_in_french(client: FlaskClient, editor: Person) -> None:
    login(client, editor)
    response = client.post(
        "/upload", data={"file": (io.BytesIO(b"a,b\r\n1,2\r\n"), "x.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "colonnes attendues" in response.get_data(as_text=True)


def test_viewer_sees_no_upload_form(client: FlaskClient, make_person: Any) -> None:
    viewer = make_person("viewer")
    login(client, viewer)
    assert 'type="file"' not in client.get("/").get_data(as_text=True)


def test_run_page_of_another_user_is_404(client: FlaskClient, editor: Person,
                                        make_person: Any) -> None:
    run_id = upload_csv(client, editor, billing_csv([act(1)])).get_json()["validationId"]
    other = make_person("editor")
    login(client, other)
    assert client.get(f"/runs/{run_id}").status_code == 404


def test_admin_page_is_for_admins(client: FlaskClient, editor: Person, make_person: Any) -> None:
    login(client, editor)
    assert client.get("/admin/").status_code == 403
    assert client.get("/admin/rq/").status_code == 403
    client.post("/logout")
    admin = make_person("admin")
    login(client, admin)
    assert "Administration" in client.get("/admin/").get_data(as_text=True)
    assert client.get("/admin/rq/").status_code == 200


def test_session_upload_through_the_api_needs_csrf(app: Flask, editor: Person) -> None:
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = page.split('name="csrf-token" content="')[1].split('"')[0]
        client.post("/login", data={"email": editor.email, "password": editor.password,
                                    "csrf_token": token})
        data = {"file": (io.BytesIO(billing_csv([act(1)])), "f.csv")}
        refused = client.post("/api/validations", data=data, content_type="multipart/form-data")
        assert refused.status_code == 400
        assert refused.get_json()["error"]["code"] == "csrf"
        data = {"file": (io.BytesIO(billing_csv([act(1)])), "f.csv")}
        accepted = client.post("/api/validations", data=data, headers={"X-CSRFToken": token},
                               content_type="multipart/form-data")
        assert accepted.status_code == 202
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
