"""The run page learns of its run's end from the run's event stream: a run taken by a real
`rq worker` reaches « Terminée » and its summary on the open page, without a reload and
without one poll of the run's JSON once the stream is open; and when the stream is cut (the
gunicorn worker serving it killed), the browser reconnects and the page still gets there.
Headless Chromium against gunicorn (gevent) and a real `rq worker`.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import psutil
import pytest
from flask import Flask

from tests.support.api import Person
from tests.support.browser import Site, enqueue, open_screen, waiting_run
from tests.support.csvfiles import act, billing_csv
from tests.workers import stop
from validateur.stack import free_port, start_web, wait_for_port

pytestmark = pytest.mark.browser
DONE = "Terminée"


def _file(tmp_path: Path, name: str, rows: int) -> Path:
    path = tmp_path / name
    path.write_bytes(billing_csv([act(n) for n in range(1, rows + 1)], encoding="cp1252",
                                 delimiter=";"))
    return path


class Requests:
    """Every request the page makes, by path."""

    def __init__(self, page: Any) -> None:
        self.paths: list[str] = []
        page.on("request", lambda request: self.paths.append(
            request.url.split("://", 1)[1].split("/", 1)[1].split("?")[0]))

    def count(self, path: str) -> int:
        return sum(1 for seen in self.paths if "/" + seen == path)


def _streaming(page: Any) -> None:
    page.wait_for_selector('#run[data-live="stream"]', state="attached", timeout=30_000)


def test_the_run_page_shows_the_end_live_without_polling(
        app: Flask, site: Site, chromium: Any, editor: Person, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    run_id = waiting_run(app, editor, _file(tmp_path, "en-direct.csv", 300))
    screen = open_screen(chromium, "desktop")
    try:
        screen.login(site, editor)
        page = screen.page
        requests = Requests(page)
        page.goto(f"{site.url}/runs/{run_id}")
        _streaming(page)
        page.evaluate("window.__sameDocument = true")  # gone if the page reloads
        enqueue(app, run_id)
        expect(page.locator("#run-status")).to_have_text(DONE, timeout=60_000)
        expect(page.locator("#summary-title")).to_be_visible(timeout=30_000)
        assert page.evaluate("window.__sameDocument === true")
        assert requests.count(f"/api/validations/{run_id}") == 0  # no poll, ever
        assert requests.count(f"/api/validations/{run_id}/events") == 1
        assert requests.count(f"/runs/{run_id}") == 2  # the page, then its final content
        groups = page.locator("#groups details.group")
        assert groups.count() > 0
        groups.first.locator("summary").click()  # the swapped-in groups still load findings
        expect(groups.first.locator("tbody tr").first).to_be_visible(timeout=30_000)
        assert screen.errors == []
    finally:
        screen.close()


def test_a_cut_stream_reconnects_and_the_page_still_reaches_the_end(
        app: Flask, site: Site, chromium: Any, editor: Person, service_env: dict[str, str],
        tmp_path: Path) -> None:
    from playwright.sync_api import expect

    port = free_port()
    web = start_web({**service_env, "WEB_CONCURRENCY": "1"}, port, log=tmp_path / "web.log")
    url = f"http://127.0.0.1:{port}"
    run_id = waiting_run(app, editor, _file(tmp_path, "coupure.csv", 50))
    screen = open_screen(chromium, "desktop")
    try:
        wait_for_port(port, 30)
        screen.login(Site(url, tmp_path / "web.log"), editor)
        page = screen.page
        requests = Requests(page)
        page.goto(f"{url}/runs/{run_id}")
        _streaming(page)
        page.evaluate("window.__sameDocument = true")
        served_by = psutil.Process(web.pid).children()
        assert len(served_by) == 1
        served_by[0].send_signal(signal.SIGKILL)  # the stream's worker dies mid-stream
        served_by[0].wait(10)
        for _ in range(300):  # Playwright hands over its events only while it is called
            if requests.count(f"/api/validations/{run_id}/events") >= 2:
                break
            page.wait_for_timeout(200)
        assert requests.count(f"/api/validations/{run_id}/events") >= 2
        _streaming(page)
        enqueue(app, run_id)
        expect(page.locator("#run-status")).to_have_text(DONE, timeout=60_000)
        assert page.evaluate("window.__sameDocument === true")
        # The cut itself is the one error the console may show.
        assert all("ERR_INCOMPLETE_CHUNKED_ENCODING" in error for error in screen.errors)
    finally:
        screen.close()
        stop(web)
