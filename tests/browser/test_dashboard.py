"""rq-dashboard in headless Chromium, as an admin: it works, and a crafted link runs nothing.

Starts the real web server (gunicorn with gunicorn.conf.py) and a real `rq worker`.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask

from tests.support.api import Person, upload_csv
from tests.support.browser import CHROMIUM, SCREENSHOTS, Site
from tests.support.csvfiles import act, billing_csv
from tests.workers import wait_final

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]


class Watch:
    """What a page did: dialogs opened, requests to our API, console errors, failed loads.

    Chromium reports every 404 on the console ("Failed to load resource"): those are kept
    apart, in `failed`, from the responses Playwright sees; the one it cannot see is the
    dashboard's icon link to our own `/static/favicon.ico`, which does not exist.
    """

    def __init__(self, page: Any) -> None:
        self.dialogs: list[str] = []
        self.api_requests: list[str] = []
        self.errors: list[str] = []
        self.failed: list[str] = []
        page.on("response", lambda r: self.failed.append(r.url) if r.status >= 400 else None)
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("request", lambda r: self.api_requests.append(r.url) if "/api/" in r.url
                else None)
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error"
                and not m.text.startswith("Failed to load resource") else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))


def _admin_page(chromium: Any, live_server: str, admin: Person,
                width: int = 1280) -> tuple[Any, Any]:
    """A browser context of its own at `width`, logged in as `admin`; close the context."""
    context = chromium.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", admin.email)
    page.fill("input[name=password]", admin.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")
    return context, page


def test_a_crafted_dashboard_link_runs_nothing(app: Flask, site: Site, chromium: Any,
                                               make_person: Any) -> None:
    live_server = site.url
    admin, owner = make_person("admin"), make_person("editor")
    client = app.test_client()
    run_id = upload_csv(client, owner, billing_csv([act(1)])).get_json()["validationId"]
    wait_final(app, run_id)
    script = (f"x');fetch('/api/validations/{run_id}',{{method:'DELETE'}});"
              "alert(document.domain);('")
    queue = app.config["VALIDATEUR_QUEUE"]
    links = [f"/admin/rq/0/view/jobs/{quote(script, safe='')}/queued/8/asc/1",
             f"/admin/rq/0/view/jobs/{queue}/{quote(script, safe='')}/8/asc/1",
             f"/admin/rq/0/view/job/{quote(script, safe='')}"]
    context, page = _admin_page(chromium, live_server, admin)
    try:
        watch = Watch(page)
        for link in links:
            response = page.goto(live_server + link)
            watch.failed.remove(live_server + link)  # the crafted link itself: our 404
            assert response is not None and response.status == 404
            page.wait_for_timeout(3000)  # longer than the dashboard's 2.5 s poll
            assert "Ressource introuvable" in page.content()
    finally:
        context.close()
    assert watch.dialogs == [] and watch.api_requests == [] and watch.errors == []
    assert watch.failed == []
    assert client.get(f"/api/validations/{run_id}", headers=owner.headers).status_code == 200


@pytest.mark.parametrize("width", [1280, 390])
def test_the_dashboard_lists_workers_and_queues(app: Flask, site: Site, chromium: Any,
                                                make_person: Any, width: int) -> None:
    from playwright.sync_api import expect

    live_server = site.url
    admin, owner = make_person("admin"), make_person("editor")
    queue = app.config["VALIDATEUR_QUEUE"]
    run_id = upload_csv(app.test_client(), owner, billing_csv([act(1)])).get_json()[
        "validationId"]
    assert wait_final(app, run_id).status == "completed"  # the queue has seen a job
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context, page = _admin_page(chromium, live_server, admin, width)
    try:
        watch = Watch(page)
        page.goto(f"{live_server}/admin/rq/0/view/workers")
        rows = page.locator("table#workers tbody tr")
        expect(rows.first).to_contain_text(queue, timeout=15_000)
        expect(page.locator("table#workers")).not_to_contain_text("Loading...")
        page.screenshot(path=str(SCREENSHOTS / f"rq-workers-{width}.png"), full_page=True)
        page.goto(f"{live_server}/admin/rq/")
        expect(page.locator("table#queues tbody")).to_contain_text(queue, timeout=15_000)
        expect(page.locator("table#queues")).not_to_contain_text("Loading...")
        page.screenshot(path=str(SCREENSHOTS / f"rq-queues-{width}.png"), full_page=True)
        time.sleep(0.5)
    finally:
        context.close()
    assert watch.failed == [] and watch.errors == [] and watch.dialogs == []
