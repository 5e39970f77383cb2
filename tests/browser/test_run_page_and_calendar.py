"""The run page a clerk works through (groups opened on demand, a claim found in one search,
filters that combine, exports that follow them) and the doctor × month calendar (French month
navigation, a day opened with the keyboard, figures equal to sums over the file itself).

Headless Chromium against gunicorn and a real `rq worker`, at 1280 px and at 390 px; every
screen is checked with `assert_fits` and photographed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask

from tests.support.api import Person, upload_csv
from tests.support.browser import SCREEN_IDS, Screen, Site, assert_fits, open_screen
from tests.support.csvfiles import act, billing_csv
from tests.workers import wait_final
from validateur.formatting import money

pytestmark = pytest.mark.browser
CÔTÉ = "1234567-12345 | Côté, Ève - Omnipraticien"
CLOUTIER = "1234568-12345 | Cloutier, Marc - Omnipraticien"  # same initial, another licence
FEE_CLAIM = "30000000900"


def _day(rows: list[dict[str, str]], doctor: str, day: str, registered: tuple[int, int],
         walk_in: tuple[int, int] = (0, 0), fee: bool = False) -> None:
    """Visits of one doctor-day: (paid, unpaid) registered and walk-in patients, and a
    registered 19928 office fee when `fee`."""
    kinds = [("", True)] * registered[0] + [("", False)] * registered[1] \
        + [("G160", True)] * walk_in[0] + [("G160", False)] * walk_in[1]
    for context, paid in kinds:
        n = len(rows) + 1
        rows.append(act(n, **{"Doctor Info": doctor, "Date de Service": day,
                              "Élement de contexte": context,
                              "Montant payé": "49,15" if paid else "0,00"}))
    if fee:
        n = len(rows) + 1
        rows.append(act(n, **{"Doctor Info": doctor, "Date de Service": day, "Code": "19928",
                              "ID RAMQ": FEE_CLAIM, "Montant Preliminaire": "32,40",
                              "Montant payé": "32,40"}))


def _rows() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    _day(rows, CÔTÉ, "2025-08-01", registered=(7, 1), walk_in=(3, 1))  # no fee: MISSED
    _day(rows, CÔTÉ, "2025-08-04", registered=(6, 0))                  # MISSED
    _day(rows, CÔTÉ, "2025-08-05", registered=(2, 0), fee=True)        # 19928 below 6: E1
    _day(rows, CÔTÉ, "2025-09-02", registered=(8, 0))                  # next month
    _day(rows, CLOUTIER, "2025-08-01", registered=(6, 2))
    return rows


def _expected(rows: list[dict[str, str]], licence: str, day: str) -> dict[str, Any]:
    """A doctor-day's figures as the calendar must show them, summed from the file's rows."""
    mine = [r for r in rows if r["Doctor Info"].startswith(licence)
            and r["Date de Service"] == day]
    visits = [r for r in mine if r["Code"] not in ("19928", "19929")]

    def patients(walk_in: bool, paid: bool) -> int:
        return len({r["Patient"] for r in visits
                    if ("G160" in r["Élement de contexte"]) == walk_in
                    and (r["Montant payé"] != "0,00") == paid})

    return {"registered": (patients(False, True), patients(False, False)),
            "walk_in": (patients(True, True), patients(True, False)),
            "billed": sum(Decimal(r["Montant Preliminaire"].replace(",", ".")) for r in mine)}


def _completed_run(app: Flask, person: Person, rows: list[dict[str, str]]) -> int:
    content = billing_csv(rows, encoding="cp1252", delimiter=";")
    response = upload_csv(app.test_client(), person, content, "facturation-aout.csv")
    run_id = int(response.get_json()["validationId"])
    assert wait_final(app, run_id).status == "completed"
    return run_id


def _look(screen: Screen, label: str) -> None:
    screen.page.wait_for_load_state("networkidle")
    assert_fits(screen, label)
    screen.shot(label)


@pytest.mark.parametrize("screen_name", SCREEN_IDS)
def test_the_run_page_groups_searches_filters_and_exports(
    app: Flask, site: Site, chromium: Any, editor: Person, screen_name: str
) -> None:
    from playwright.sync_api import expect

    run_id = _completed_run(app, editor, _rows())
    screen = open_screen(chromium, screen_name)
    try:
        screen.login(site, editor)
        page = screen.page
        page.goto(f"{site.url}/runs/{run_id}")
        _look(screen, "work-run")
        expect(page.locator("h2#summary-title")).to_have_text("Résumé")
        expect(page.locator(".summary")).to_contain_text("Gain potentiel")
        expect(page.locator("#sev-optimization")).to_contain_text("Optimisations")
        # A group opens on demand and loads its findings from the API.
        group = page.locator('details.group[data-scenario="MISSED"]')
        expect(group.locator("summary")).to_contain_text("Frais de cabinet non facturés")
        expect(group.locator("summary")).to_contain_text("4 constats")
        group.locator("summary").click()
        rows = group.locator("table.group-findings tbody tr")
        expect(rows).to_have_count(4)
        expect(group.locator(".group-status")).to_have_text("4 constats affichés sur 4.")
        expect(group.locator("caption")).to_have_text(
            "Frais de cabinet non facturés : constats 1 à 4 sur 4")
        expect(group.locator("button.more")).to_be_hidden()  # nothing more to load
        expect(rows.first).to_contain_text("Dr. C***")
        expect(rows.first).to_contain_text("1234567")
        _look(screen, "work-run-group-open")

        # One search finds a claim.
        page.fill("input[name=q]", FEE_CLAIM)
        page.click("#filters button[type=submit]")
        page.wait_for_load_state()
        expect(page.locator("#search-result")).to_have_text(
            f"Réclamation {FEE_CLAIM} : 1 constat.")
        found = page.locator("table.findings tbody tr")
        expect(found).to_have_count(1)
        expect(found.first).to_contain_text(FEE_CLAIM)
        expect(found.first).to_contain_text("2025-08-05")
        _look(screen, "work-run-search")

        # Filters combine (doctor and severity), in a shareable URL, and exports follow them.
        page.goto(f"{site.url}/runs/{run_id}")
        page.select_option("select[name=doctor]", "1234567")
        page.select_option("select[name=severity]", "optimization")
        page.click("#filters button[type=submit]")
        page.wait_for_load_state()
        query = parse_qs(urlsplit(page.url).query)
        assert query["doctor"] == ["1234567"] and query["severity"] == ["optimization"]
        expect(page.locator("#findings-caption")).to_contain_text("Constats 1 à 3 sur 3 (filtrés)")
        for export in ("#export-csv", "#export-xlsx"):
            href = page.locator(export).get_attribute("href") or ""
            exported = parse_qs(urlsplit(href).query)
            assert exported == {"doctor": ["1234567"], "severity": ["optimization"]}, href
        assert "results.xlsx" in (page.locator("#export-xlsx").get_attribute("href") or "")
        expect(page.locator("#groups-caption")).to_contain_text("3 constats pour ces filtres")
        _look(screen, "work-run-filtered")
        page.select_option("select[name=doctor]", "1234568")
        page.click("#filters button[type=submit]")
        page.wait_for_load_state()
        expect(page.locator("#findings-caption")).to_contain_text("sur 1 (filtrés)")
        assert screen.errors == []
    finally:
        screen.close()


@pytest.mark.parametrize("screen_name", SCREEN_IDS)
def test_the_calendar_shows_the_days_of_the_file_and_opens_one_with_the_keyboard(
    app: Flask, site: Site, chromium: Any, editor: Person, screen_name: str
) -> None:
    from playwright.sync_api import expect

    rows = _rows()
    run_id = _completed_run(app, editor, rows)
    screen = open_screen(chromium, screen_name)
    try:
        screen.login(site, editor)
        page = screen.page
        page.goto(f"{site.url}/runs/{run_id}")
        page.click("#calendar-link")
        page.wait_for_load_state()
        _look(screen, "work-calendar")
        expect(page.locator("h2#doctor-title")).to_contain_text("Dr. C***")
        expect(page.locator("h2#doctor-title")).to_contain_text("licence 1234567")
        expect(page.locator("#doctor-select option")).to_have_count(2)  # two Dr. C***
        expect(page.locator("#month-title")).to_have_text("août 2025")
        weekdays = page.locator(".weekdays li")
        expect(weekdays.first).to_have_text("dim.")
        # 2025-08-01 is a Friday: five blanks (Sunday to Thursday) before it.
        assert page.locator("#days > li").nth(5).get_attribute("data-date") == "2025-08-01"

        for day in ("2025-08-01", "2025-08-04", "2025-08-05"):
            want = _expected(rows, "1234567", day)
            cell = page.locator(f'li.day[data-date="{day}"]')
            expect(cell.locator('[data-figure="registered"]')).to_have_text(
                f"Inscrits {want['registered'][0]} / {want['registered'][1]}")
            expect(cell.locator('[data-figure="walk-in"]')).to_have_text(
                f"Sans rdv {want['walk_in'][0]} / {want['walk_in'][1]}")
            expect(cell.locator('[data-figure="billed"]')).to_have_text(
                f"Facturé {money(want['billed'])}")
        first = page.locator('li.day[data-date="2025-08-01"]')
        expect(first).to_have_class("day optimization")
        expect(first.locator(".day-status")).to_have_text("↗ Optimisation")
        expect(first.locator('[data-figure="gain"]')).to_have_text(f"Gain {money('32.40')}")
        expect(first.locator('[data-figure="findings"]')).to_have_text("1 constat")
        error_day = page.locator('li.day[data-date="2025-08-05"]')
        expect(error_day.locator(".day-status")).to_have_text("✖ Erreur")
        expect(page.locator('li.day[data-date="2025-08-02"]')).to_have_class("day none")

        # Enter on a day opens that day's findings in place.
        page.locator('a.day-link[data-date="2025-08-05"]').focus()
        page.keyboard.press("Enter")
        panel = page.locator("#day-panel")
        expect(panel).to_be_visible()
        expect(page.locator("#day-panel-title")).to_have_text("Constats du mardi 5 août 2025")
        expect(panel.locator(".day-finding").first).to_contain_text("Erreur")
        expect(panel.locator(".day-finding").first).to_contain_text(FEE_CLAIM)
        link = page.locator("#day-panel-link").get_attribute("href") or ""
        assert parse_qs(urlsplit(link).query) == {"doctor": ["1234567"], "date": ["2025-08-05"]}
        _look(screen, "work-calendar-day-open")

        page.click("#next-month")
        page.wait_for_load_state()
        expect(page.locator("#month-title")).to_have_text("septembre 2025")
        want = _expected(rows, "1234567", "2025-09-02")
        september = page.locator('li.day[data-date="2025-09-02"]')
        expect(september.locator('[data-figure="registered"]')).to_have_text(
            f"Inscrits {want['registered'][0]} / {want['registered'][1]}")
        _look(screen, "work-calendar-september")
        page.click("#previous-month")
        page.wait_for_load_state()
        expect(page.locator("#month-title")).to_have_text("août 2025")

        # The other Dr. C*** has a calendar of their own.
        page.select_option("#doctor-select", "1234568")
        page.click(".doctor-choice button[type=submit]")
        page.wait_for_load_state()
        expect(page.locator("h2#doctor-title")).to_contain_text("licence 1234568")
        want = _expected(rows, "1234568", "2025-08-01")
        other = page.locator('li.day[data-date="2025-08-01"]')
        expect(other.locator('[data-figure="registered"]')).to_have_text(
            f"Inscrits {want['registered'][0]} / {want['registered'][1]}")
        _look(screen, "work-calendar-other-doctor")
        assert screen.errors == []
    finally:
        screen.close()
