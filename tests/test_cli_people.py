"""`validateur orgs …` and `validateur users …`: organizations, roles, disabling, in French."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from tests.support.cli import assert_one_french_error, invoke
from tests.support.csvfiles import act, billing_csv
from tests.support.people import account, member


def _ok(app: Flask, *args: str) -> str:
    result = invoke(app, *args)
    assert result.exit_code == 0, result.output + result.stderr
    return result.output


def test_orgs_create_list_and_set(app: Flask) -> None:
    created = _ok(app, "orgs", "create", "Clinique A", "--plan", "priority",
                  "--max-parallel", "3")
    assert created.strip() == ("Organisation créée : Clinique A (forfait prioritaire, "
                               "3 validations simultanées)")
    assert "forfait standard, 2 validations simultanées" in _ok(app, "orgs", "create",
                                                                "Agence B")
    _ok(app, "users", "create", "a@exemple.test", "--role", "editor", "--org", "Clinique A")
    listed = _ok(app, "orgs", "list").splitlines()
    assert listed == ["Agence B\tstandard\t2 à la fois\t0 membre\tactive",
                      "Clinique A\tprioritaire\t3 à la fois\t1 membre\tactive"]
    changed = _ok(app, "orgs", "set", "Agence B", "--plan", "priority", "--max-parallel", "1")
    assert "Agence B (forfait prioritaire, 1 validation simultanée)" in changed
    assert "désactivée" in _ok(app, "orgs", "set", "Agence B", "--disable")
    assert "désactivée" not in _ok(app, "orgs", "set", "Agence B", "--enable")


def test_orgs_errors_are_one_french_line(app: Flask) -> None:
    _ok(app, "orgs", "create", "Clinique A")
    assert_one_french_error(invoke(app, "orgs", "create", "Clinique A"), "existe déjà")
    assert_one_french_error(invoke(app, "orgs", "create", "C", "--max-parallel", "0"),
                            "entre 1 et 100")
    assert_one_french_error(invoke(app, "orgs", "create", "C", "--plan", "vip"),
                            "--plan", "standard, priority")
    assert_one_french_error(invoke(app, "orgs", "set", "Inconnue", "--plan", "priority"),
                            "organisation inconnue : Inconnue", "orgs list")
    assert_one_french_error(invoke(app, "orgs", "set", "Clinique A"), "rien à changer")
    assert_one_french_error(invoke(app, "orgs", "create", " "), "de 1 à 320 caractères")


def test_users_without_org_get_one_each(app: Flask) -> None:
    first = _ok(app, "users", "create", "un@exemple.test", "--role", "editor")
    assert "Utilisateur créé : un@exemple.test (éditeur) dans l'organisation un@exemple.test" \
        in first
    _ok(app, "users", "create", "deux@exemple.test", "--role", "manager")
    one, two = account(app, "un@exemple.test"), account(app, "deux@exemple.test")
    assert one.organization_id != two.organization_id
    assert two.organization is not None and two.organization.name == "deux@exemple.test"
    admin = _ok(app, "users", "create", "ops@exemple.test", "--role", "admin")
    assert "Utilisateur créé : ops@exemple.test (administrateur)\n" in admin
    assert account(app, "ops@exemple.test").organization_id is None
    assert_one_french_error(
        invoke(app, "users", "create", "ops2@exemple.test", "--role", "admin", "--org",
               "un@exemple.test"), "aucune organisation")
    assert_one_french_error(
        invoke(app, "users", "create", "x@exemple.test", "--role", "viewer", "--org", "Nulle"),
        "organisation inconnue : Nulle")
    _ok(app, "orgs", "create", "trois@exemple.test")
    assert_one_french_error(
        invoke(app, "users", "create", "trois@exemple.test", "--role", "viewer"),
        "l'organisation « trois@exemple.test » existe déjà")


def test_users_list_by_organization(app: Flask) -> None:
    _ok(app, "orgs", "create", "Clinique A")
    _ok(app, "users", "create", "b@exemple.test", "--role", "viewer", "--org", "Clinique A")
    _ok(app, "users", "create", "a@exemple.test", "--role", "manager", "--org", "Clinique A")
    _ok(app, "users", "create", "ops@exemple.test", "--role", "admin")
    assert _ok(app, "users", "list", "--org", "Clinique A").splitlines() == [
        "a@exemple.test\tClinique A\tgestionnaire\tactif",
        "b@exemple.test\tClinique A\tlecteur\tactif"]
    assert "ops@exemple.test\t—\tadministrateur\tactif" in _ok(app, "users", "list")
    _ok(app, "orgs", "create", "Vide")
    assert _ok(app, "users", "list", "--org", "Vide").strip() == "Aucun utilisateur."


def test_users_set_moves_re_roles_and_disables_at_once(app: Flask,
                                                       client: FlaskClient) -> None:
    clerk = member(app, "editor", "Clinique A")
    _ok(app, "orgs", "create", "Agence B")
    browser = app.test_client()
    browser.post("/login", data={"email": clerk.email, "password": clerk.password})
    assert browser.get("/runs").status_code == 200
    moved = _ok(app, "users", "set", clerk.email, "--org", "Agence B", "--role", "viewer")
    assert f"Utilisateur modifié : {clerk.email} (lecteur, organisation Agence B)" in moved
    disabled = _ok(app, "users", "set", clerk.email, "--disable")
    assert "désactivé" in disabled
    assert browser.get("/runs").status_code == 302  # the real session cookie stops
    assert client.get("/api/validations", headers=clerk.headers).status_code == 401
    _ok(app, "users", "set", clerk.email, "--enable", "--password", "un-mot-de-passe-sur")
    assert client.get("/api/validations", headers=clerk.headers).status_code == 200
    assert app.test_client().post("/login", data={
        "email": clerk.email, "password": "un-mot-de-passe-sur"}).status_code == 302
    promoted = _ok(app, "users", "set", clerk.email, "--role", "admin")
    assert "(administrateur, aucune organisation)" in promoted
    demoted = _ok(app, "users", "set", clerk.email, "--role", "editor")
    assert f"(éditeur, organisation {clerk.email})" in demoted  # one of their own
    assert_one_french_error(invoke(app, "users", "set", clerk.email), "rien à changer")
    assert_one_french_error(invoke(app, "users", "set", "nul@exemple.test", "--disable"),
                            "utilisateur inconnu")
    assert_one_french_error(invoke(app, "users", "set", clerk.email, "--role", "chef"),
                            "--role", "viewer, editor, manager, admin")
    assert_one_french_error(invoke(app, "users", "set", clerk.email, "--password", "court"),
                            "au moins 12 caractères")


def test_the_dev_admin_is_an_admin_of_no_organization(app: Flask, tmp_path: Path) -> None:
    _ok(app, "users", "create", "dev@exemple.test", "--role", "editor")
    _ok(app, "users", "dev-admin", "dev@exemple.test", "--credentials",
        str(tmp_path / "credentials.json"))
    admin = account(app, "dev@exemple.test")
    assert (admin.role, admin.organization_id) == ("admin", None)


def test_validate_gives_the_run_to_the_users_organization(app: Flask, tmp_path: Path) -> None:
    from validateur.extensions import db
    from validateur.models import ValidationRun

    clerk = member(app, "editor", "Clinique A")
    path = tmp_path / "f.csv"
    path.write_bytes(billing_csv([act(1)]))
    _ok(app, "validate", str(path), "--user", clerk.email)
    with app.app_context():
        run = db.session.execute(db.select(ValidationRun)).scalar_one()
        assert run.organization_id == account(app, clerk.email).organization_id
