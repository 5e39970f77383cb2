"""The place in line, live: « 2ᵉ dans la file d'attente » on the run page and in the runs list,
then « 1ʳᵉ » once the run ahead has started, without a reload; gone once the run has started.
The admin page's queue section. Headless Chromium at 1280 px and 390 px, gunicorn and a real
`rq worker`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.support.api import Person
from tests.support.browser import SCREEN_IDS, Site, assert_fits, enqueue, open_screen, waiting_run
from tests.support.csvfiles import act, billing_csv
from tests.workers import wait_final

pytestmark = pytest.mark.browser
SECOND = "2e dans la file d\u2019attente"
FIRST = "1re dans la file d\u2019attente"


def _file(tmp_path: Path, name: str, rows: int) -> Path:
    path = tmp_path / name
    path.write_bytes(billing_csv([act(n) for n in range(1, rows + 1)], encoding="cp1252",
                                 delimiter=";"))
    return path


@pytest.mark.parametrize("screen_name", SCREEN_IDS)
def test_the_place_in_line_goes_down_live_on_the_run_page_and_the_list(
    app: Flask, site: Site, chromium: Any, editor: Person, tmp_path: Path, screen_name: str
) -> None:
    from playwright.sync_api import expect

    ahead = waiting_run(app, editor, _file(tmp_path, f"devant-{screen_name}.csv", 2_000))
    behind = waiting_run(app, editor, _file(tmp_path, f"derriere-{screen_name}.csv", 10))
    screen = open_screen(chromium, screen_name)
    try:
        screen.login(site, editor)
        page = screen.page
        page.goto(f"{site.url}/runs")
        place = page.locator(f'tr[data-run-id="{behind}"] [data-cell="place"]')
        expect(place).to_have_text(SECOND)
        assert place.locator("sup").inner_text() == "e"
        expect(page.locator(f'tr[data-run-id="{ahead}"] [data-cell="place"]')).to_have_text(
            FIRST)
        assert_fits(screen, "runs-queue-place")
        screen.shot("runs-queue-place")
        page.goto(f"{site.url}/runs/{behind}")
        shown = page.locator("#run-queue-place")
        expect(shown).to_contain_text(SECOND)
        page.evaluate("window.__sameDocument = true")  # gone if the page reloads
        enqueue(app, ahead)
        expect(shown).to_contain_text(FIRST, timeout=30_000)
        assert page.locator("#run-queue-place sup").inner_text() == "re"
        assert page.evaluate("window.__sameDocument === true")
        assert_fits(screen, "run-queue-place")
        screen.shot("run-queue-place")
        wait_final(app, ahead)
        enqueue(app, behind)
        expect(page.locator("#run-status")).to_have_text("Terminée", timeout=60_000)
        assert screen.errors == []
    finally:
        screen.close()


@pytest.mark.parametrize("screen_name", SCREEN_IDS)
def test_the_admin_page_shows_the_queues(site: Site, chromium: Any, make_person: Any,
                                         editor: Person, app: Flask, tmp_path: Path,
                                         screen_name: str) -> None:
    admin = make_person("admin")
    waiting = waiting_run(app, editor, _file(tmp_path, f"attente-{screen_name}.csv", 10))
    screen = open_screen(chromium, screen_name)
    try:
        screen.login(site, admin)
        page = screen.page
        page.goto(f"{site.url}/admin/")
        section = page.locator('section[aria-labelledby="queues-title"]')
        assert "Files d'attente" in section.inner_text()
        assert "File prioritaire" in section.inner_text()
        assert f"N° {waiting}" in page.locator("#oldest-wait").inner_text()
        assert "1 validation" in section.inner_text()
        assert_fits(screen, "admin-queues")
        screen.shot("admin-queues")
        assert screen.errors == []
    finally:
        screen.close()
