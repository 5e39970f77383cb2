"""The runs list follows running runs live; cancel and delete ask first, then say what they
did, with or without JavaScript; the CSV export refuses a bad filter before any byte.

Headless Chromium against gunicorn and a real `rq worker`, at 1280 px and at 390 px.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.support.api import Person
from tests.support.browser import (
    SCREEN_IDS,
    Site,
    assert_fits,
    enqueue,
    open_screen,
    waiting_run,
)
from tests.support.csvfiles import act, billing_csv
from tests.workers import wait_final

pytestmark = pytest.mark.browser
LIVE_CELLS = ("status", "progress", "rows", "error", "warning", "optimization", "gain")


def _file(tmp_path: Path, name: str, rows: int) -> Path:
    path = tmp_path / name
    path.write_bytes(billing_csv(
        [act(n, **({"Date de Service": "2025-13-45"} if n % 3 == 0 else {}))
         for n in range(1, rows + 1)], encoding="cp1252", delimiter=";"))
    return path


def _cells(page: Any, run_id: int) -> dict[str, str]:
    row = page.locator(f'tr[data-run-id="{run_id}"]')
    return {name: row.locator(f'[data-cell="{name}"]').inner_text() for name in LIVE_CELLS}


@pytest.mark.parametrize("screen_name", SCREEN_IDS)
def test_the_runs_list_follows_a_running_run_without_reloading(
    app: Flask, site: Site, chromium: Any, editor: Person, tmp_path: Path, screen_name: str
) -> None:
    from playwright.sync_api import expect

    run_id = waiting_run(app, editor, _file(tmp_path, f"suivi-{screen_name}.csv", 3_000))
    screen = open_screen(chromium, screen_name)
    try:
        screen.login(site, editor)
        page = screen.page
        page.goto(f"{site.url}/runs")
        assert _cells(page, run_id)["status"] == "En file d'attente"
        assert _cells(page, run_id)["progress"] == "0\u00a0%"
        page.evaluate("window.__sameDocument = true")  # gone if the page reloads
        enqueue(app, run_id)
        row = page.locator(f'tr[data-run-id="{run_id}"]')
        expect(row.locator('[data-cell="status"]')).to_have_text("Terminée", timeout=60_000)
        assert page.evaluate("window.__sameDocument === true")
        live = _cells(page, run_id)
        assert live["progress"] == "100\u00a0%" and live["rows"] == "3\u202f000"
        assert live["error"] == "1"  # the 1 000 identical bad dates are one merged finding
        assert_fits(screen, "runs-live")
        screen.shot("runs-live")
        page.reload()
        assert _cells(page, run_id) == live  # the script writes what the server writes
        assert screen.errors == []
    finally:
        screen.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
@pytest.mark.parametrize("screen_name", SCREEN_IDS)
def test_cancel_asks_then_says_so(app: Flask, site: Site, chromium: Any, editor: Person,
                                  tmp_path: Path, screen_name: str, javascript: bool) -> None:
    from playwright.sync_api import expect

    run_id = waiting_run(app, editor, _file(tmp_path, "a-annuler.csv", 10))
    screen = open_screen(chromium, screen_name, javascript=javascript)
    try:
        screen.login(site, editor)
        page = screen.page
        page.goto(f"{site.url}/runs/{run_id}")
        page.get_by_role("link", name="Annuler la validation").click()
        expect(page.locator("h1")).to_have_text(f"Annuler la validation {run_id} ?")
        assert wait_final_or_none(app, run_id) is None  # asking changed nothing
        suffix = "" if javascript else "-nojs"
        assert_fits(screen, "confirm-cancel")
        screen.shot("confirm-cancel" + suffix)
        page.get_by_role("button", name="Oui, annuler la validation").click()
        page.wait_for_url(f"**/runs/{run_id}")
        expect(page.locator(".flash.success")).to_have_text(f"Validation {run_id} annulée.")
        expect(page.locator("#run-status")).to_have_text("Annulée")
        assert page.locator("progress").count() == 0
        assert page.get_by_role("link", name="Annuler la validation").count() == 0
        assert_fits(screen, "run-cancelled-flash")
        screen.shot("run-cancelled-flash" + suffix)
        assert screen.errors == []
    finally:
        screen.close()
    assert wait_final(app, run_id, 5).status == "cancelled"


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
@pytest.mark.parametrize("screen_name", SCREEN_IDS)
def test_delete_asks_then_says_so(app: Flask, site: Site, chromium: Any, editor: Person,
                                  tmp_path: Path, screen_name: str, javascript: bool) -> None:
    from playwright.sync_api import expect

    from validateur.extensions import db
    from validateur.models import ValidationRun

    run_id = waiting_run(app, editor, _file(tmp_path, "a-supprimer.csv", 10))
    screen = open_screen(chromium, screen_name, javascript=javascript)
    try:
        screen.login(site, editor)
        page = screen.page
        page.goto(f"{site.url}/runs/{run_id}")
        page.get_by_role("link", name="Supprimer la validation").click()
        expect(page.locator("h1")).to_have_text(f"Supprimer la validation {run_id} ?")
        page.get_by_role("link", name="Non, revenir à la validation").click()
        page.wait_for_url(f"**/runs/{run_id}")
        page.get_by_role("link", name="Supprimer la validation").click()
        page.get_by_role("button", name="Oui, supprimer la validation").click()
        page.wait_for_url("**/runs")
        expect(page.locator(".flash.success")).to_have_text(f"Validation {run_id} supprimée.")
        assert page.locator(f'tr[data-run-id="{run_id}"]').count() == 0
        assert_fits(screen, "runs-after-delete")
        screen.shot("runs-after-delete" + ("" if javascript else "-nojs"))
        assert screen.errors == []
    finally:
        screen.close()
    with app.app_context():
        assert db.session.get(ValidationRun, run_id) is None


def wait_final_or_none(app: Flask, run_id: int) -> str | None:
    """The run's status if it is final, else None (no waiting)."""
    from validateur.extensions import db
    from validateur.models import RunStatus, ValidationRun

    with app.app_context():
        run = db.session.get(ValidationRun, run_id)
        assert run is not None
        return run.status if RunStatus(run.status).is_final else None


def _get(url: str, token: str) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # loopback only
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def test_the_export_refuses_a_bad_filter_before_any_byte_over_http(
    app: Flask, site: Site, editor: Person, tmp_path: Path
) -> None:
    """Through gunicorn: a NUL in a filter is a 400 JSON answer, never a 200 with a cut body,
    and the server logs no traceback (which used to print the SQL and its parameters)."""
    run_id = waiting_run(app, editor, _file(tmp_path, "export.csv", 30))
    enqueue(app, run_id)
    assert wait_final(app, run_id).status == "completed"
    base = f"{site.url}/api/validations/{run_id}/results.csv"
    for query in ("rule=%00", "rule=office-fee%00", "severity=error%00", "page=0",
                  "page=9223372036854775807"):
        status, body, headers = _get(f"{base}?{query}", editor.token)
        assert status == 400, query
        assert headers["Content-Type"].startswith("application/json")
        assert json.loads(body)["error"]["code"] == "invalid_parameters"
    for path in ("0", "9223372036854775808", "99999999999999999999"):
        status, body, _ = _get(f"{site.url}/api/validations/{path}/results.csv", editor.token)
        assert status == 404 and json.loads(body)["error"]["code"] == "not_found"
    status, body, _ = _get(f"{base}?severity=error", editor.token)
    assert status == 200 and body.startswith("\ufeff".encode())
    text = body.decode("utf-8-sig")
    assert text.count("\r\n") == 2  # header + the 10 identical invalid dates, merged
    assert "3 6 9 12 15 18 21 24 27 30" in text
    log = site.web_log.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log and "SELECT" not in log
