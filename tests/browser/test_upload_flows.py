"""Uploading as a person does it: dropping a file, the keyboard alone, the plain form.

Each test drives headless Chromium against gunicorn and a real `rq worker`, at 1280 px and at
390 px, and follows the run until the worker has finished it.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import Person
from tests.support.browser import SCREEN_IDS, Site, assert_fits, open_screen
from tests.support.csvfiles import act, billing_csv
from validateur.web.filters import file_size

pytestmark = pytest.mark.browser
NOTHING_CHOSEN = "Choisissez un fichier CSV à téléverser."


def _sample(tmp_path: Path, name: str, rows: int = 400) -> Path:
    content = billing_csv([act(n, **({"Date de Service": "2025-13-45"} if n % 50 == 0 else {}))
                           for n in range(1, rows + 1)], encoding="cp1252", delimiter=";")
    path = tmp_path / name
    path.write_bytes(content)
    return path


def _wait_completed(page: Any, run_id_pattern: str = "**/runs/*") -> None:
    from playwright.sync_api import expect

    page.wait_for_url(run_id_pattern, timeout=20_000)
    expect(page.locator("#run-status")).to_have_text("Terminée", timeout=60_000)


def _drop(page: Any, path: Path) -> None:
    """A real drop: a DataTransfer built in the page, holding a File with the file's bytes,
    dispatched as dragenter, dragover and drop on the dropzone."""
    transfer = page.evaluate_handle(
        """([name, encoded]) => {
             const bytes = Uint8Array.from(atob(encoded), c => c.charCodeAt(0));
             const transfer = new DataTransfer();
             transfer.items.add(new File([bytes], name, {type: "text/csv"}));
             return transfer;
           }""",
        [path.name, base64.b64encode(path.read_bytes()).decode()],
    )
    for event in ("dragenter", "dragover", "drop"):
        page.dispatch_event("#dropzone", event, {"dataTransfer": transfer})


@pytest.mark.parametrize("screen_name", SCREEN_IDS)
def test_a_dropped_file_is_uploaded_and_its_run_completes(
    site: Site, chromium: Any, editor: Person, tmp_path: Path, screen_name: str
) -> None:
    from playwright.sync_api import expect

    sample = _sample(tmp_path, f"glisse-{screen_name}.csv")
    screen = open_screen(chromium, screen_name)
    try:
        screen.login(site, editor)
        page = screen.page
        _drop(page, sample)
        shown = f"{sample.name} · {file_size(sample.stat().st_size)}"
        expect(page.locator("#file-name")).to_have_text(shown)
        assert_fits(screen, "upload-dropped")
        screen.shot("upload-dropped")
        with page.expect_response(lambda r: r.url.endswith("/api/validations")) as answer:
            page.click("#upload-button")
        assert answer.value.status == 202  # the script sent the dropped file to the API
        run_id = answer.value.headers["location"].rsplit("/", 1)[1]
        _wait_completed(page, f"**/runs/{run_id}")
        assert "Lignes : 400" in " ".join(page.locator("#run dl").inner_text().split())
        expect(page.locator(".file-name")).to_have_text(sample.name)
        assert_fits(screen, "run-after-drop")
        screen.shot("run-after-drop")
        assert screen.errors == []
    finally:
        screen.close()


@pytest.mark.parametrize("screen_name", SCREEN_IDS)
def test_keyboard_only_upload(site: Site, chromium: Any, editor: Person, tmp_path: Path,
                              screen_name: str) -> None:
    """Tab to the dropzone, Enter opens the chooser, Tab to the button, Enter sends."""
    from playwright.sync_api import expect

    sample = _sample(tmp_path, f"clavier-{screen_name}.csv", rows=120)
    screen = open_screen(chromium, screen_name)
    try:
        screen.login(site, editor)
        page = screen.page

        def tab_to(element_id: str) -> None:
            for _ in range(25):
                page.keyboard.press("Tab")
                if page.evaluate("document.activeElement.id") == element_id:
                    return
            raise AssertionError(f"Tab never reached #{element_id}")

        # Interception of file choosers stays on for the whole test (Playwright would switch
        # it off between two `expect_file_chooser`, letting a real, headless dialog hang).
        opened: list[Any] = []
        page.on("filechooser", lambda chooser: opened.append(chooser))
        tab_to("dropzone")
        expect(page.get_by_role("button", name="Choisir un fichier CSV ou le déposer ici")
               ).to_be_focused()
        with page.expect_file_chooser() as chooser:
            page.keyboard.press(" ")  # Space opens it too
        assert chooser.value.is_multiple()  # several files at once make a batch (issue 16)
        chooser.value.set_files(str(sample))
        expect(page.locator("#file-name")).to_contain_text(sample.name)
        with page.expect_file_chooser() as chooser:
            page.keyboard.press("Enter")
        chooser.value.set_files(str(sample))
        expect(page.locator("#file-name")).to_have_text(
            f"{sample.name} · {file_size(sample.stat().st_size)}")
        screen.shot("upload-keyboard-chosen")
        assert len(opened) == 2  # Space, then Enter, each opened it once
        tab_to("upload-button")
        page.keyboard.press("Enter")
        _wait_completed(page)
        expect(page.locator(".file-name")).to_have_text(sample.name)
        assert screen.errors == []
    finally:
        screen.close()


@pytest.mark.parametrize("screen_name", SCREEN_IDS)
def test_nothing_chosen_is_said_in_french_with_and_without_javascript(
    site: Site, chromium: Any, editor: Person, screen_name: str
) -> None:
    from playwright.sync_api import expect

    for javascript in (True, False):
        screen = open_screen(chromium, screen_name, javascript=javascript)
        try:
            screen.login(site, editor)
            page = screen.page
            page.click("#upload-button")
            if javascript:
                expect(page.locator("#upload-status")).to_have_text(NOTHING_CHOSEN)
                assert page.url == f"{site.url}/"
            else:
                expect(page.locator(".flash.error")).to_have_text(NOTHING_CHOSEN)
                assert page.url == f"{site.url}/upload"
            label = "upload-nothing-chosen" + ("" if javascript else "-nojs")
            assert_fits(screen, label)
            screen.shot(label)
            # Without the script the form's answer is the page itself, with its 400 status.
            expected = [] if javascript else [
                "Failed to load resource: the server responded with a status of 400 (BAD REQUEST)"]
            assert screen.errors == expected
        finally:
            screen.close()


@pytest.mark.parametrize("screen_name", SCREEN_IDS)
def test_the_plain_form_uploads_without_javascript(
    site: Site, chromium: Any, editor: Person, tmp_path: Path, screen_name: str
) -> None:
    from playwright.sync_api import expect

    sample = _sample(tmp_path, f"sans-js-{screen_name}.csv", rows=60)
    screen = open_screen(chromium, screen_name, javascript=False)
    try:
        screen.login(site, editor)
        page = screen.page
        chooser = page.get_by_label("Choisir un fichier")  # the native input, visually hidden
        chooser.set_input_files(str(sample))
        screen.shot("upload-nojs-chosen")
        page.click("#upload-button")
        page.wait_for_url("**/runs/*")
        for _ in range(120):  # without the script the page does not poll: reload like a person
            if page.locator("#run-status").inner_text() == "Terminée":
                break
            page.wait_for_timeout(500)
            page.reload()
        expect(page.locator("#run-status")).to_have_text("Terminée")
        expect(page.locator(".file-name")).to_have_text(sample.name)
        assert_fits(screen, "run-nojs")
    finally:
        screen.close()


@pytest.mark.parametrize("screen_name", SCREEN_IDS)
def test_the_chooser_speaks_french_only(site: Site, chromium: Any, editor: Person,
                                        screen_name: str) -> None:
    """No "Choose File" / "No file chosen": the native input is hidden, but still reachable."""
    screen = open_screen(chromium, screen_name)
    try:
        screen.login(site, editor)
        page = screen.page
        text = page.locator("#dropzone").inner_text()
        assert "Choose" not in text and "No file" not in text
        assert "Choisir un fichier" in text and "Aucun fichier choisi." in text
        box = page.locator("#file-input").bounding_box()
        assert box is not None and box["width"] <= 1 and box["height"] <= 1
        assert page.get_by_label("Choisir un fichier", exact=True).count() == 1
        assert_fits(screen, "upload")
        screen.shot("upload")
    finally:
        screen.close()


def test_the_script_formats_numbers_like_the_server(site: Site, chromium: Any,
                                                    editor: Person) -> None:
    """static/format.js and validateur.formatting write every number the same way."""
    from decimal import Decimal

    from validateur.web import filters

    screen = open_screen(chromium, "desktop")
    try:
        screen.login(site, editor)
        integers = [0, 7, 999, 1000, 24_967, 100_000, 1_234_567, -4321]
        amounts = ["0.00", "-0.00", "32.40", "-32.40", "1234.56", "-1234567.89", "64.8", "5"]
        sizes = [0, 1, 1023, 1024, 1535, 1536, 2560, 250_880, 1_048_575, 1_048_576,
                 1_258_291, 1_310_720, 314_572_800]
        got = screen.page.evaluate(
            """([ints, amounts, sizes]) => ({
                 ints: ints.map(ValidateurFormat.integer),
                 amounts: amounts.map(ValidateurFormat.money),
                 percents: ints.slice(0, 3).map(ValidateurFormat.percent),
                 sizes: sizes.map(ValidateurFormat.fileSize)})""",
            [integers, amounts, sizes])
        assert got["ints"] == [filters.integer(n) for n in integers]
        assert got["amounts"] == [filters.money(Decimal(a)) for a in amounts]
        assert got["percents"] == [filters.percent(n) for n in integers[:3]]
        assert got["sizes"] == [file_size(n) for n in sizes]
        assert got["sizes"][7] == "245 Ko" and got["sizes"][10] == "1,2 Mo"
    finally:
        screen.close()
