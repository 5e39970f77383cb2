"""The live stack for browser tests (gunicorn + a real `rq worker`) and Chromium.

The helpers the tests use (screens, fit checks, runs to open) are in `tests/support/browser.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, Site
from tests.workers import start_rq_worker, stop
from validateur.stack import free_port, start_web, wait_for_port


@pytest.fixture(scope="package")
def site(app: object, service_env: dict[str, str],
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """gunicorn on a free port and one plain `rq worker`, on the session's services.

    Package-scoped: its worker listens to the session's queue, so it must be gone before the
    tests of other packages enqueue jobs they expect their own workers to take.
    """
    port = free_port()
    logs = tmp_path_factory.mktemp("site")
    web = start_web({**service_env, "WEB_CONCURRENCY": "1"}, port, log=logs / "web.log")
    worker = start_rq_worker(service_env, logs / "worker.log")
    try:
        wait_for_port(port, 30)
        yield Site(f"http://127.0.0.1:{port}", logs / "web.log")
    finally:
        stop(worker)
        stop(web)


@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
