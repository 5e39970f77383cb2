"""« Mon organisation » as a clinic's manager uses it, and the admin's organization pages:
add a member (the password shown once), change a role, disable an account, at 1280 px and
390 px, with nothing scrolling sideways.

Headless Chromium against gunicorn, on the session's real services.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.support.browser import SCREEN_IDS, Screen, Site, assert_fits, open_screen
from tests.support.people import account, member, user_of

pytestmark = pytest.mark.browser
CLINIC = "Clinique médicale familiale du Vieux-Québec et de la Haute-Ville"


def _settled(screen: Screen, label: str) -> Any:
    screen.page.wait_for_load_state("networkidle")
    assert_fits(screen, label)
    screen.shot(label)
    return screen.page


def _row(page: Any, email: str) -> Any:
    return page.locator(f'#members-table tr[data-member="{email}"]')


@pytest.mark.parametrize("screen_name", SCREEN_IDS)
def test_a_manager_adds_re_roles_and_disables_a_member(
        app: Flask, site: Site, chromium: Any, screen_name: str) -> None:
    from playwright.sync_api import expect

    manager = member(app, "manager", CLINIC,
                     email="gestionnaire-de-la-facturation@clinique-vieux-quebec.test")
    member(app, "editor", CLINIC, email="commis.facturation@clinique-vieux-quebec.test")
    member(app, "viewer", CLINIC, email="lecture@clinique-vieux-quebec.test")
    newcomer = f"nouvelle.commis-{screen_name}@clinique-vieux-quebec.test"
    screen = open_screen(chromium, screen_name)
    try:
        screen.login(site, manager)
        page = screen.page
        page.get_by_role("link", name="Mon organisation").click()
        page = _settled(screen, "organization")
        expect(page.locator("h1")).to_have_text("Mon organisation")
        expect(page.locator("#members-caption")).to_have_text("3 membres, par courriel")
        expect(page.locator("header .role")).to_have_text("(gestionnaire)")

        page.fill("#new-email", newcomer)
        page.select_option("#new-role", label="lecteur")
        page.click("#add-member-button")
        page = _settled(screen, "organization-password")
        expect(page.locator("h1")).to_have_text("Compte créé")
        password = page.locator("#generated-password").inner_text()
        assert len(password) >= 12
        page.get_by_role("link", name="Revenir à l'organisation").click()
        page.wait_for_load_state()
        assert password not in page.content()
        row = _row(page, newcomer)
        expect(row.locator("select")).to_have_value("viewer")

        row.locator("select").select_option(label="éditeur")
        row.get_by_role("button", name="Changer le rôle").click()
        page = _settled(screen, "organization-role-changed")
        expect(page.locator(".flash.success")).to_have_text(f"Rôle de {newcomer} : éditeur.")
        expect(_row(page, newcomer).locator("select")).to_have_value("editor")

        _row(page, newcomer).get_by_role("link", name="Désactiver").click()
        page = _settled(screen, "organization-confirm-disable")
        expect(page.locator("h1")).to_contain_text("Désactiver le compte de")
        page.click("#confirm-button")
        page = _settled(screen, "organization-disabled")
        expect(page.locator(".flash.success")).to_contain_text(f"Compte de {newcomer} désactivé")
        expect(_row(page, newcomer).locator('[data-cell="state"]')).to_have_text("désactivé")
        expect(_row(page, newcomer).get_by_role("button", name="Réactiver")).to_be_visible()
        stored = account(app, newcomer)
        assert (stored.role, stored.active) == ("editor", False)
        assert app.test_client().post("/login", data={
            "email": newcomer, "password": password}).status_code == 401
        assert screen.errors == [], screen.errors
    finally:
        screen.close()


@pytest.mark.parametrize("screen_name", SCREEN_IDS)
def test_the_admin_pages_of_organizations_fit(app: Flask, site: Site, chromium: Any,
                                              screen_name: str) -> None:
    from playwright.sync_api import expect

    admin = member(app, "admin", None, email="administratrice@exploitation-validateur.test")
    clerk = member(app, "manager", CLINIC,
                   email="gestionnaire-de-la-facturation@clinique-vieux-quebec.test")
    member(app, "editor", "Agence de facturation Plus")
    clinic_id = user_of(app, clerk)[1]
    screen = open_screen(chromium, screen_name)
    try:
        screen.login(site, admin)
        page = screen.page
        page.goto(f"{site.url}/admin/")
        page = _settled(screen, "admin-organizations")
        expect(page.locator("#orgs-caption")).to_have_text("2 organisations, par nom")
        page.get_by_role("link", name=CLINIC).first.click()
        page = _settled(screen, "admin-organization")
        page.select_option("#plan", label="prioritaire")
        page.fill("#max-parallel", "4")
        page.get_by_role("button", name="Enregistrer").click()
        page = _settled(screen, "admin-organization-saved")
        expect(page.locator(".flash.success")).to_have_text(f"Organisation {CLINIC} modifiée.")
        page.get_by_role("link", name="Désactiver l'organisation").click()
        _settled(screen, "admin-confirm-organization")
        page.goto(f"{site.url}/admin/organizations/{clinic_id}")
        assert screen.errors == [], screen.errors
    finally:
        screen.close()
