"""« Mon organisation » and the admin pages of organizations, through the real app.

A manager adds a member (the password shown once works), changes a role, disables and
enables an account, and generates a new password; a disabled account's real session cookie
and real token stop at their next request. A manager never grants `admin`, never touches
another organization's members (404) nor their own account. The admin changes plans and
max-parallel and disables an organization.
"""

from __future__ import annotations

import html
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.support.api import Person
from tests.support.people import account, member, user_of
from validateur import create_app

CLINIC, AGENCY = "Clinique du Vieux-Québec", "Agence Facturation Plus"


def _login(client: FlaskClient, person: Person) -> Any:
    return client.post("/login", data={"email": person.email, "password": person.password})


def _text(response: Any) -> str:
    """The page with runs of white space as single spaces and entities decoded."""
    return html.unescape(re.sub(r"[ \t\r\n]+", " ", response.get_data(as_text=True)))


def _flashes(client: FlaskClient, path: str = "/organization") -> str:
    return " ".join(re.findall(r'<p class="flash [a-z]+"[^>]*>([^<]*)</p>',
                               _text(client.get(path))))


def test_a_manager_sees_the_members_in_french(app: Flask, client: FlaskClient) -> None:
    manager = member(app, "manager", CLINIC)
    clerk = member(app, "viewer", CLINIC)
    member(app, "editor", AGENCY, email="ailleurs@exemple.test")
    _login(client, manager)
    page = _text(client.get("/organization"))
    assert "<h1 id=\"org-title\">Mon organisation</h1>" in page
    assert CLINIC in page and "standard" in page and "2 au plus" in page
    assert "2 membres, par courriel" in page
    assert clerk.email in page and "ailleurs@exemple.test" not in page
    assert 'href="/organization">Mon organisation</a>' in page  # in the navigation
    assert "(gestionnaire)" in page and f"· {CLINIC}" in page  # who is there, on every page
    for word in ("lecteur", "éditeur", "gestionnaire"):
        assert word in page
    assert 'value="admin"' not in page  # never offered


def test_adding_a_member_shows_a_password_once_and_it_works(app: Flask,
                                                             client: FlaskClient) -> None:
    manager = member(app, "manager", CLINIC)
    _login(client, manager)
    answer = client.post(f"/organizations/{user_of(app, manager)[1]}/members",
                         data={"email": " Nouvelle@Exemple.test ", "role": "editor"})
    assert answer.status_code == 200
    page = _text(answer)
    assert "Compte créé" in page and "nouvelle@exemple.test" in page and "(éditeur)" in page
    password = re.search(r'id="generated-password">([^<]+)<', page)
    assert password is not None
    assert "il ne sera plus affiché" in page
    assert password.group(1) not in _text(client.get("/organization"))
    created = account(app, "nouvelle@exemple.test")
    assert created.organization is not None and created.organization.name == CLINIC
    newcomer = app.test_client()
    assert newcomer.post("/login", data={"email": "nouvelle@exemple.test",
                                         "password": password.group(1)}).status_code == 302
    again = client.post(f"/organizations/{user_of(app, manager)[1]}/members",
                        data={"email": "nouvelle@exemple.test", "role": "viewer"})
    assert again.status_code == 302
    assert "Un compte existe déjà pour nouvelle@exemple.test." in _flashes(client)
    bad = client.post(f"/organizations/{user_of(app, manager)[1]}/members",
                      data={"email": "pas-un-courriel", "role": "viewer"})
    assert bad.status_code == 302
    assert "Ce courriel n'est pas une adresse valide." in _flashes(client)


def test_a_manager_changes_a_role_disables_and_enables(app: Flask, client: FlaskClient) -> None:
    manager, clerk = member(app, "manager", CLINIC), member(app, "viewer", CLINIC)
    clerk_id = user_of(app, clerk)[0]
    _login(client, manager)
    assert client.post(f"/members/{clerk_id}/role", data={"role": "editor"}).status_code == 302
    assert f"Rôle de {clerk.email} : éditeur." in _flashes(client)
    assert account(app, clerk.email).role == "editor"
    question = _text(client.get(f"/members/{clerk_id}/disable"))
    assert f"Désactiver le compte de <span class=\"email\">{clerk.email}</span> ?" in question
    assert "Oui, désactiver le compte" in question and account(app, clerk.email).active
    assert client.post(f"/members/{clerk_id}/disable").status_code == 302
    assert "désactivé : ses sessions et ses jetons d'API ont cessé" in _flashes(client)
    assert not account(app, clerk.email).active
    assert ">désactivé<" in _text(client.get("/organization"))
    assert client.post(f"/members/{clerk_id}/enable").status_code == 302
    assert f"Compte de {clerk.email} réactivé." in _flashes(client)
    assert account(app, clerk.email).active


def test_a_disabled_members_session_and_token_stop_at_the_next_request(
        app: Flask, client: FlaskClient) -> None:
    manager, clerk = member(app, "manager", CLINIC), member(app, "editor", CLINIC)
    browser = app.test_client()
    _login(browser, clerk)
    assert browser.get("/runs").status_code == 200
    assert client.get("/api/validations", headers=clerk.headers).status_code == 200
    _login(client, manager)
    client.post(f"/members/{user_of(app, clerk)[0]}/disable")
    stopped = browser.get("/runs")
    assert stopped.status_code == 302 and "/login" in stopped.headers["Location"]
    assert app.test_client().get("/api/validations", headers=clerk.headers).status_code == 401
    assert _login(app.test_client(), clerk).status_code == 401
    # Enabled again: the token works again; the ended session stays ended.
    client.post(f"/members/{user_of(app, clerk)[0]}/enable")
    assert app.test_client().get("/api/validations", headers=clerk.headers).status_code == 200
    assert browser.get("/runs").status_code == 302


def test_a_new_password_replaces_the_old_and_ends_the_sessions(app: Flask,
                                                               client: FlaskClient) -> None:
    manager, clerk = member(app, "manager", CLINIC), member(app, "viewer", CLINIC)
    browser = app.test_client()
    _login(browser, clerk)
    _login(client, manager)
    clerk_id = user_of(app, clerk)[0]
    assert "Oui, générer un mot de passe" in _text(client.get(f"/members/{clerk_id}/password"))
    page = _text(client.post(f"/members/{clerk_id}/password"))
    password = re.search(r'id="generated-password">([^<]+)<', page)
    assert password is not None and "Nouveau mot de passe" in page
    assert browser.get("/runs").status_code == 302
    assert _login(app.test_client(), clerk).status_code == 401
    assert app.test_client().post("/login", data={
        "email": clerk.email, "password": password.group(1)}).status_code == 302


def test_a_manager_cannot_grant_admin_nor_act_on_themselves(app: Flask,
                                                            client: FlaskClient) -> None:
    manager, clerk = member(app, "manager", CLINIC), member(app, "viewer", CLINIC)
    manager_id, clinic_id = user_of(app, manager)
    _login(client, manager)
    client.post(f"/members/{user_of(app, clerk)[0]}/role", data={"role": "admin"})
    assert "Choisissez un rôle dans la liste." in _flashes(client)
    assert account(app, clerk.email).role == "viewer"
    client.post(f"/organizations/{clinic_id}/members",
                data={"email": "chef@exemple.test", "role": "admin"})
    with app.app_context():
        from validateur import auth

        assert auth.find_user("chef@exemple.test") is None
    for path, data in ((f"/members/{manager_id}/role", {"role": "viewer"}),
                       (f"/members/{manager_id}/disable", {})):
        assert client.post(path, data=data).status_code == 302
        assert "Vous ne pouvez pas modifier votre propre compte ici" in _flashes(client)
    mine = account(app, manager.email)
    assert (mine.role, mine.active) == ("manager", True)


def test_a_manager_cannot_reach_another_organizations_members(app: Flask,
                                                              client: FlaskClient) -> None:
    manager = member(app, "manager", CLINIC)
    stranger = member(app, "editor", AGENCY)
    stranger_id, agency_id = user_of(app, stranger)
    _login(client, manager)
    for method, path, data in (
            ("POST", f"/members/{stranger_id}/role", {"role": "viewer"}),
            ("GET", f"/members/{stranger_id}/disable", {}),
            ("POST", f"/members/{stranger_id}/disable", {}),
            ("POST", f"/members/{stranger_id}/enable", {}),
            ("POST", f"/members/{stranger_id}/password", {}),
            ("POST", f"/organizations/{agency_id}/members",
             {"email": "intrus@exemple.test", "role": "editor"}),
            ("GET", f"/admin/organizations/{agency_id}", {})):
        status = client.open(path, method=method, data=data).status_code
        assert status in (403, 404), (method, path, status)
        if not path.startswith("/admin/"):
            assert status == 404, path  # not found: nothing says the account exists
    after = account(app, stranger.email)
    assert (after.role, after.active) == ("editor", True)
    assert _login(app.test_client(), stranger).status_code == 302  # the password is unchanged


def test_people_forms_need_the_csrf_token(service_env: dict[str, str], app: Flask) -> None:
    protected = create_app()  # CSRF on, as in production
    manager, clerk = member(app, "manager", CLINIC), member(app, "viewer", CLINIC)
    client = protected.test_client()
    login_page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page) or \
        re.search(r'name="csrf-token" content="([^"]+)"', login_page)
    assert token is not None
    client.post("/login", data={"email": manager.email, "password": manager.password,
                                "csrf_token": token.group(1)})
    clerk_id = user_of(app, clerk)[0]
    assert client.post(f"/members/{clerk_id}/disable").status_code == 400
    assert client.post(f"/members/{clerk_id}/role", data={"role": "editor"}).status_code == 400
    assert account(app, clerk.email).active and account(app, clerk.email).role == "viewer"
    page = client.get("/organization").get_data(as_text=True)
    fresh = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert fresh is not None
    assert client.post(f"/members/{clerk_id}/disable",
                       data={"csrf_token": fresh.group(1)}).status_code == 302
    assert not account(app, clerk.email).active


def test_the_admin_manages_organizations_and_their_members(app: Flask,
                                                           client: FlaskClient) -> None:
    admin = member(app, "admin", None)
    clerk = member(app, "editor", CLINIC)
    member(app, "manager", AGENCY)
    clinic_id = user_of(app, clerk)[1]
    _login(client, admin)
    index = _text(client.get("/admin/"))
    assert "2 organisations, par nom" in index and CLINIC in index and AGENCY in index
    assert "3 utilisateurs, par courriel" in index and "gestionnaire" in index
    assert client.get("/organization").headers["Location"] == "/admin/"
    page = _text(client.get(f"/admin/organizations/{clinic_id}"))
    assert f"Organisation <span class=\"email\">{CLINIC}</span>" in page and clerk.email in page
    changed = client.post(f"/admin/organizations/{clinic_id}",
                          data={"plan": "priority", "max_parallel": "4"})
    assert changed.status_code == 302
    assert f"Organisation {CLINIC} modifiée." in _flashes(client,
                                                          f"/admin/organizations/{clinic_id}")
    organization = account(app, clerk.email).organization
    assert organization is not None
    assert (organization.plan, organization.max_parallel) == ("priority", 4)
    assert "prioritaire" in _text(client.get("/admin/"))
    refused = client.post(f"/admin/organizations/{clinic_id}",
                          data={"plan": "priority", "max_parallel": "0"})
    assert refused.status_code == 200 and "Donnez un nombre de 1 à 100." in _text(refused)
    assert "Oui, désactiver l'organisation" in _text(
        client.get(f"/admin/organizations/{clinic_id}/disable"))
    api = app.test_client()  # the admin's own session would answer before the token
    assert api.get("/api/validations", headers=clerk.headers).status_code == 200
    client.post(f"/admin/organizations/{clinic_id}/disable")
    assert api.get("/api/validations", headers=clerk.headers).status_code == 401
    assert _login(app.test_client(), clerk).status_code == 401
    client.post(f"/admin/organizations/{clinic_id}/enable")
    assert _login(app.test_client(), clerk).status_code == 302
    # Member actions from the admin pages: the same routes as a manager's.
    client.post(f"/members/{user_of(app, clerk)[0]}/disable")
    assert not account(app, clerk.email).active
    client.post(f"/members/{user_of(app, admin)[0]}/disable")
    assert account(app, admin.email).active  # not their own account
