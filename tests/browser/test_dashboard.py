"""rq-dashboard in headless Chromium, as an admin: it works, and a crafted link runs nothing.

Starts the real web server (gunicorn with gunicorn.conf.py) and a real `rq worker`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask

from tests.conftest import Person, upload_csv
from tests.csvfiles import act, billing_csv
from tests.workers import start_rq_worker, stop, wait_final
from validateur.dev import free_port, wait_for_port

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]
SCREENSHOTS = Path(os.environ.get("VALIDATEUR_SCREENSHOTS", "/tmp/validateur-screenshots"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def live_server(app: Flask, service_env: dict[str, str],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    logs = tmp_path_factory.mktemp("dashboard")
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "validateur:create_app()"],
        env={**os.environ, **service_env, "GUNICORN_BIND": f"127.0.0.1:{port}"},
        cwd=Path(__file__).resolve().parents[2],
        stdout=(logs / "web.log").open("wb"), stderr=subprocess.STDOUT)
    worker = start_rq_worker(service_env, logs / "worker.log")
    try:
        wait_for_port(port, 30)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(worker)
        stop(web)


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


def _admin_page(pw: Any, live_server: str, admin: Person, width: int = 1280) -> tuple[Any, Any]:
    browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", admin.email)
    page.fill("input[name=password]", admin.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")
    return browser, page


def test_a_crafted_dashboard_link_runs_nothing(app: Flask, live_server: str,
                                               make_person: Any) -> None:
    from playwright.sync_api import sync_playwright

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
    with sync_playwright() as pw:
        browser, page = _admin_page(pw, live_server, admin)
        watch = Watch(page)
        for link in links:
            response = page.goto(live_server + link)
            watch.failed.remove(live_server + link)  # the crafted link itself: our 404
            assert response is not None and response.status == 404
            page.wait_for_timeout(3000)  # longer than the dashboard's 2.5 s poll
            assert "Ressource introuvable" in page.content()
        browser.close()
    assert watch.dialogs == [] and watch.api_requests == [] and watch.errors == []
    assert watch.failed == []
    assert client.get(f"/api/validations/{run_id}", headers=owner.headers).status_code == 200


@pytest.mark.parametrize("width", [1280, 390])
def test_the_dashboard_lists_workers_and_queues(app: Flask, live_server: str,
                                                make_person: Any, width: int) -> None:
    from playwright.sync_api import expect, sync_playwright

    admin, owner = make_person("admin"), make_person("editor")
    queue = app.config["VALIDATEUR_QUEUE"]
    run_id = upload_csv(app.test_client(), owner, billing_csv([act(1)])).get_json()[
        "validationId"]
    assert wait_final(app, run_id).status == "completed"  # the queue has seen a job
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser, page = _admin_page(pw, live_server, admin, width)
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
        browser.close()
    assert watch.failed == [] and watch.errors == [] and watch.dialogs == []
