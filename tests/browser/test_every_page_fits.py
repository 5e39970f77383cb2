"""Every page a clerk or an admin opens, at 1280 px and at 390 px: nothing scrolls sideways,
text is readable, controls are finger-sized, and the words are French.

The runs are real: a completed run with findings and a failed run come from the real
`rq worker`; queued, processing and cancelled runs are set up through `runs`, the module
that writes statuses, so their pages can be photographed while they stand still.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.support.api import Person, upload_csv
from tests.support.browser import SCREEN_IDS, Screen, Site, assert_fits, open_screen
from tests.support.csvfiles import act, billing_csv
from tests.workers import wait_final

pytestmark = pytest.mark.browser
LONG_NAME = "facturation-journaliere-clinique-medicale-du-vieux-quebec-2025-03-complete.csv"


def _visit(screen: Screen, site: Site, path: str, label: str, status: int = 200) -> Any:
    response = screen.page.goto(f"{site.url}{path}")
    assert response is not None and response.status == status, (path, response and response.status)
    screen.page.wait_for_load_state("networkidle")
    assert_fits(screen, label)
    screen.shot(label)
    return screen.page


def _completed_with_findings(app: Flask, person: Person) -> int:
    rows = [act(n, **({"Date de Service": "2025-13-45"} if n % 2 else {}))
            for n in range(1, 141)]
    rows.append(act(141, Code="19928", **{"Montant Preliminaire": "32,40"}))
    client = app.test_client()
    run_id = int(upload_csv(client, person, billing_csv(rows, encoding="cp1252", delimiter=";"),
                            LONG_NAME).get_json()["validationId"])
    assert wait_final(app, run_id).status == "completed"
    return run_id


def _failed(app: Flask, person: Person) -> int:
    content = billing_csv([act(n) for n in range(1, 6)]) + b'6,"JAMAIS FERMEE' + b"x" * 1_200_000
    client = app.test_client()
    run_id = int(upload_csv(client, person, content, "illisible.csv").get_json()["validationId"])
    assert wait_final(app, run_id).status == "failed"
    return run_id


def _standing_runs(app: Flask, person: Person, tmp_path: Path) -> dict[str, int]:
    """Runs no worker will move: queued, processing at 49 %, cancelled, and many finished."""
    from tests.support.browser import user_id_of
    from tests.support.runs import make_run
    from validateur import runs
    from validateur.models import Phase

    owner = user_id_of(app, person)
    made: dict[str, int] = {}
    with app.app_context():
        def create(name: str) -> int:
            return make_run(user_id=owner, file_name=name, stored_name="", file_size=1_258_291,
                            encoding="cp1252", delimiter=";")

        for n in range(24):
            run_id = create(f"facturation-{n:02d}.csv")
            assert runs.start_attempt(run_id)
            assert runs.finish(run_id, runs.Completed(
                total_rows=100_000 + n,
                counts={"error": 24_967, "warning": 3, "optimization": 1_204},
                potential_gain=Decimal("1234.56"), money_at_risk=Decimal("98765.40"),
            ), source="worker", line="Traitement terminé")
        made["queued"] = create("en-attente.csv")
        made["processing"] = create("en-cours.csv")
        assert runs.start_attempt(made["processing"])
        assert runs.record_progress(made["processing"], Phase.PARSING, 49, 49_000)
        made["cancelled"] = create("annulee.csv")
        assert runs.start_attempt(made["cancelled"])
        assert runs.record_progress(made["cancelled"], Phase.PARSING, 49, 49_000)
        assert runs.finish(made["cancelled"], runs.Cancelled(), source="web",
                           line="Validation annulée")
    return made


@pytest.mark.parametrize("screen_name", SCREEN_IDS)
def test_every_page_fits_the_screen(app: Flask, site: Site, chromium: Any, editor: Person,
                                    make_person: Any, tmp_path: Path, screen_name: str) -> None:
    from playwright.sync_api import expect

    screen = open_screen(chromium, screen_name)
    try:
        page = _visit(screen, site, "/login", "login")
        expect(page.locator("h1")).to_have_text("Connexion")
        screen.login(site, editor)
        _visit(screen, site, "/", "upload")
        page = _visit(screen, site, "/runs", "runs-empty")
        expect(page.locator("#empty")).to_contain_text("Aucune validation pour l'instant.")
        expect(page.locator("#empty a")).to_have_text("Téléverser un fichier")

        completed = _completed_with_findings(app, editor)
        failed = _failed(app, editor)
        standing = _standing_runs(app, editor, tmp_path)

        page = _visit(screen, site, "/runs", "runs-full")
        expect(page.locator("#runs-caption")).to_contain_text("29 validations")
        row = page.locator(f'tr[data-run-id="{standing["processing"]}"]')
        expect(row.locator('[data-cell="progress"]')).to_have_text("49\u00a0%")
        finished = page.locator('tr[data-status="completed"]').last
        expect(finished.locator('[data-cell="error"]')).to_have_text("24\u202f967")
        expect(finished.locator('[data-cell="gain"]')).to_have_text("1\u202f234,56\u00a0$")
        _visit(screen, site, "/runs?page=2", "runs-page-2")
        page = _visit(screen, site, "/runs?page=99", "runs-beyond", 404)
        expect(page.locator("#beyond")).to_have_text(
            "La page 99 n'existe pas : la dernière est la page 2.")
        page = _visit(screen, site, "/runs?status=failed&q=illisible", "runs-filtered")
        expect(page.locator("#runs-caption")).to_contain_text("1 validation pour ces filtres")

        page = _visit(screen, site, f"/runs/{completed}", "run-completed")
        expect(page.locator(".file-name")).to_have_text(LONG_NAME)
        expect(page.locator("#run-rows")).to_have_text("141")
        expect(page.locator("#groups")).to_contain_text("Structure du fichier")
        page = _visit(screen, site, f"/runs/{completed}?severity=error", "run-completed-errors")
        expect(page.locator("table.findings tbody tr").first).to_contain_text("Date invalide")
        _visit(screen, site, f"/runs/{completed}?page=40&severity=error",
               "run-completed-beyond", 404)
        page = _visit(screen, site, f"/runs/{completed}/calendar", "calendar")
        expect(page.locator("h1")).to_have_text("Calendrier des médecins")
        expect(page.locator("#month-title")).to_have_text("mars 2025")
        page = _visit(screen, site, f"/runs/{standing['queued']}/calendar", "calendar-waiting")
        expect(page.locator("#not-completed")).to_contain_text("en file d'attente")

        page = _visit(screen, site, f"/runs/{failed}", "run-failed")
        expect(page.locator(".failure h2")).to_have_text("Échec : Fichier illisible")
        expect(page.locator("table.logs")).to_be_visible()
        expect(page.get_by_role("link", name="Téléverser à nouveau")).to_be_visible()
        assert page.locator("progress").count() == 0

        page = _visit(screen, site, f"/runs/{standing['queued']}", "run-queued")
        expect(page.locator("#run-status")).to_have_text("En file d'attente")
        page = _visit(screen, site, f"/runs/{standing['processing']}", "run-processing")
        expect(page.locator("#run-live")).to_have_attribute("aria-live", "polite")
        expect(page.locator("#run-progress-label")).to_have_text("49\u00a0%")
        expect(page.locator("#run-phase")).to_have_text("lecture et enregistrement")
        page = _visit(screen, site, f"/runs/{standing['cancelled']}", "run-cancelled")
        expect(page.locator("#run-status")).to_have_text("Annulée")
        text = page.locator("main").inner_text()
        assert "49\u00a0%" not in text and "lecture et enregistrement" not in text
        assert page.locator("progress").count() == 0

        _visit(screen, site, f"/runs/{standing['processing']}/cancel", "confirm-cancel")
        _visit(screen, site, f"/runs/{completed}/delete", "confirm-delete")
        page = _visit(screen, site, "/runs/999999999", "error-404", 404)
        expect(page.locator("h1")).to_have_text("Page introuvable")
        page = _visit(screen, site, "/runs?page=0", "error-400", 400)
        expect(page.locator("h1")).to_have_text("Adresse invalide")

        page.goto(f"{site.url}/")
        page.click("button.link")  # Déconnexion
        admin = make_person("admin",
                            email="administratrice-des-comptes@clinique-du-vieux-quebec.test")
        screen.login(site, admin)
        page = _visit(screen, site, "/admin/", "admin")
        expect(page.locator("table.users")).to_contain_text("éditeur")
        page = _visit(screen, site, "/runs", "runs-admin")
        expect(page.locator("table.runs")).to_contain_text(editor.email)
        # The only console errors are the 404 and 400 answers this test asked for.
        expected = {"Failed to load resource: the server responded with a status of 404 "
                    "(NOT FOUND)",
                    "Failed to load resource: the server responded with a status of 400 "
                    "(BAD REQUEST)"}
        assert set(screen.errors) <= expected, screen.errors
    finally:
        screen.close()


@pytest.mark.parametrize("screen_name", SCREEN_IDS)
def test_a_viewer_sees_no_way_to_upload(site: Site, chromium: Any, make_person: Any,
                                        screen_name: str) -> None:
    from playwright.sync_api import expect

    viewer = make_person("viewer")
    screen = open_screen(chromium, screen_name)
    try:
        screen.login(site, viewer)
        page = _visit(screen, site, "/", "upload-viewer")
        expect(page.locator(".flash.error")).to_contain_text("Votre rôle (lecteur)")
        expect(page.locator("header .role")).to_have_text("(lecteur)")
        page = _visit(screen, site, "/runs", "runs-empty-viewer")
        assert page.get_by_role("link", name="Téléverser").count() == 0
        assert page.get_by_text("Téléverser un fichier").count() == 0
        assert page.locator("input[type=file]").count() == 0
    finally:
        screen.close()
