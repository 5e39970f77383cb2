"""A person's path in headless Chromium: log in, upload, watch the run complete, see findings.

Starts the real web server (gunicorn) and a real `rq worker` on the session's services.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import Person
from tests.support.browser import Site
from tests.support.csvfiles import act, billing_csv

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]
SCREENSHOTS = Path(os.environ.get("VALIDATEUR_SCREENSHOTS", "/tmp/validateur-screenshots"))


def test_login_upload_and_watch_the_run_complete(site: Site, chromium: Any, editor: Person,
                                                tmp_path: Path) -> None:
    from playwright.sync_api import expect

    live_server = site.url
    rows = [act(n, **{"Élement de contexte": "G160" if n % 2 else ""}) for n in range(1, 301)]
    rows.append(act(301, Code="19928", **{"Montant Preliminaire": "32,40"}))
    rows.append(act(302, **{"Date de Service": "2025-13-45"}))
    sample = tmp_path / "facturation-mars.csv"
    sample.write_bytes(billing_csv(rows, encoding="cp1252", delimiter=";"))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(f"{live_server}/login")
        page.fill("input[name=email]", editor.email)
        page.fill("input[name=password]", editor.password)
        page.click("button[type=submit]")
        expect(page.locator("#dropzone")).to_be_visible()
        page.set_input_files("#file-input", str(sample))
        expect(page.locator("#file-name")).to_contain_text("facturation-mars.csv")
        page.screenshot(path=str(SCREENSHOTS / "upload.png"), full_page=True)
        page.click("#upload-button")
        page.wait_for_url("**/runs/*", timeout=15_000)
        expect(page.locator("#run-status")).to_have_text("Terminée", timeout=60_000)
        expect(page.locator("#groups")).to_contain_text("invalid-date")
        expect(page.locator(".summary")).to_contain_text("Gain potentiel")
        assert page.locator("#run-progress").get_attribute("value") == "100"
        page.screenshot(path=str(SCREENSHOTS / "run.png"), full_page=True)
        page.select_option("select[name=severity]", "error")
        page.click("form.filters button[type=submit]")
        expect(page.locator("table.findings tbody tr").first).to_contain_text("Erreur")
    finally:
        context.close()
    assert errors == []
