"""Chromium helpers for the browser tests: screens at two widths, the fit checks, runs to open.

A person uses the pages on a 1280 px screen and on a 390 px phone: every check that matters
(no sideways scrolling, readable text, tap targets) is run at both widths, and every page is
photographed for a person to look at (`VALIDATEUR_SCREENSHOTS`, default
/tmp/validateur-screenshots, in `pages/`). The fixtures (the live site, Chromium) are in
`tests/browser/conftest.py`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.api import Person

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(os.environ.get("VALIDATEUR_SCREENSHOTS", "/tmp/validateur-screenshots"))
SCREENSHOTS /= "pages"
#: (name, viewport width, height, phone?)
SCREENS = [("desktop", 1280, 800, False), ("phone", 390, 844, True)]
SCREEN_IDS = [name for name, *_ in SCREENS]
#: Smallest height of a control a finger must hit (WCAG 2.5.5 recommends 44 CSS px).
TAP_TARGET = 44
SMALLEST_TEXT = 12


@dataclass
class Site:
    url: str
    web_log: Path


class Screen:
    """One browser context at one width, collecting console errors and failed requests."""

    def __init__(self, browser: Any, name: str, width: int, height: int, phone: bool,
                 javascript: bool = True) -> None:
        self.name, self.width = name, width
        self.context = browser.new_context(
            viewport={"width": width, "height": height}, is_mobile=phone, has_touch=phone,
            device_scale_factor=2 if phone else 1, java_script_enabled=javascript,
            locale="fr-CA",
        )
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console",
                     lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def login(self, site: Site, person: Person) -> None:
        page = self.page
        page.goto(f"{site.url}/login")
        page.fill("input[name=email]", person.email)
        page.fill("input[name=password]", person.password)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        assert "/login" not in page.url, "login failed"

    def shot(self, label: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{label}-{self.name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()


def open_screen(browser: Any, name: str, javascript: bool = True) -> Screen:
    _, width, height, phone = next(s for s in SCREENS if s[0] == name)
    return Screen(browser, name, width, height, phone, javascript)


def assert_fits(screen: Screen, label: str) -> None:
    """No sideways scrolling of the page, readable text, fingers-sized controls.

    The page may not be wider than the viewport (a phone would zoom out or scroll sideways);
    wide tables may scroll, inside their own box only. Every visible text is at least 12 px;
    on the phone every button, select, text field and navigation link is at least 44 px high.
    """
    page = screen.page
    widths = page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth,"
        " body: document.body.scrollWidth})")
    assert widths["inner"] == screen.width, (label, widths)
    assert widths["scroll"] <= widths["inner"], (label, screen.name, widths)
    assert widths["body"] <= widths["inner"], (label, screen.name, widths)
    overflowing = page.evaluate("""() => Array.from(document.querySelectorAll('body *'))
        .filter(el => {
          const box = el.getBoundingClientRect();
          if (!box.width || el.closest('.table-scroll, .visually-hidden, .skip')) return false;
          return box.right > window.innerWidth + 0.5 || box.left < -0.5;
        }).map(el => el.tagName + '.' + el.className).slice(0, 5)""")
    assert overflowing == [], (label, screen.name, overflowing)
    small_text = page.evaluate(f"""() => Array.from(document.querySelectorAll('body *'))
        .filter(el => Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim()))
        .filter(el => el.getClientRects().length && !el.closest('.visually-hidden, .skip'))
        .filter(el => parseFloat(getComputedStyle(el).fontSize) < {SMALLEST_TEXT})
        .map(el => el.tagName + ' ' + el.textContent.trim().slice(0, 30)).slice(0, 5)""")
    assert small_text == [], (label, screen.name, small_text)
    if screen.name == "phone":
        tiny = page.evaluate(f"""() => Array.from(document.querySelectorAll(
            'button, .button, select, input:not([type=hidden]):not(.visually-hidden),'
            + ' nav a, .pager a'))
          .filter(el => el.getClientRects().length)
          .filter(el => el.getBoundingClientRect().height < {TAP_TARGET})
          .map(el => el.tagName + ' ' + (el.textContent || el.name).trim().slice(0, 30))""")
        assert tiny == [], (label, tiny)


def user_id_of(app: Any, person: Person) -> int:
    from validateur import auth

    with app.app_context():
        user = auth.find_user(person.email)
        assert user is not None
        return int(user.id)


def waiting_run(app: Any, person: Person, source: Path, name: str | None = None) -> int:
    """A queued run of `source` whose job is not enqueued yet (see `enqueue`): a page can be
    opened on it before any worker moves it."""
    from tests.support.runs import make_run, stored_file

    owner = user_id_of(app, person)
    with app.app_context():
        stored_name, size = stored_file(source)
        return make_run(user_id=owner, file_name=name or source.name, stored_name=stored_name,
                        file_size=size, encoding="cp1252", delimiter=";")


def enqueue(app: Any, run_id: int) -> None:
    from validateur import queue

    with app.app_context():
        queue.enqueue_validation(run_id)
