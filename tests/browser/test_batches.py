"""Several files dropped at once become a batch: its page follows each file live, then shows
the totals; the runs list groups the batch's runs. At 1280 px and at 390 px."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.support.api import Person
from tests.support.browser import SCREEN_IDS, Site, assert_fits, open_screen
from tests.support.csvfiles import act, billing_csv

pytestmark = pytest.mark.browser


def _good(rows: int, seed: int) -> bytes:
    return billing_csv([act(n, **({"Code": "19928"} if n % 25 == 0 else {}))
                        for n in range(seed, seed + rows)], encoding="cp1252", delimiter=";")


def _drop_files(page: Any, files: list[tuple[str, bytes]]) -> None:
    """A real drop: one DataTransfer built in the page holding every File, dispatched as
    dragenter, dragover and drop on the dropzone."""
    transfer = page.evaluate_handle(
        """(files) => {
             const transfer = new DataTransfer();
             for (const [name, encoded] of files) {
               const bytes = Uint8Array.from(atob(encoded), c => c.charCodeAt(0));
               transfer.items.add(new File([bytes], name, {type: "text/csv"}));
             }
             return transfer;
           }""",
        [[name, base64.b64encode(content).decode()] for name, content in files],
    )
    for event in ("dragenter", "dragover", "drop"):
        page.dispatch_event("#dropzone", event, {"dataTransfer": transfer})


@pytest.mark.parametrize("screen_name", SCREEN_IDS)
def test_dropped_files_become_a_batch_followed_live_to_its_totals(
        site: Site, chromium: Any, editor: Person, screen_name: str) -> None:
    from playwright.sync_api import expect

    files = [(f"clinique-{letter}-{screen_name}.csv", _good(300, 1 + 1000 * i))
             for i, letter in enumerate("abcd")]
    files.insert(2, (f"mauvais-{screen_name}.csv", b"Facture;Code\r\nF1;15804\r\n"))
    screen = open_screen(chromium, screen_name)
    try:
        screen.login(site, editor)
        page = screen.page
        _drop_files(page, files)
        expect(page.locator("#file-name")).to_contain_text("5 fichiers choisis")
        expect(page.locator("#chosen-files li")).to_have_count(5)
        assert_fits(screen, "upload-several")
        screen.shot("upload-several")
        with page.expect_response(lambda r: r.url.endswith("/api/batches")) as answer:
            page.click("#upload-button")
        assert answer.value.status == 202
        batch_id = answer.value.headers["location"].rsplit("/", 1)[1]
        page.wait_for_url(f"**/batches/{batch_id}", timeout=20_000)
        expect(page.locator("#batch-rejected")).to_be_visible()
        expect(page.locator("#rejected-title")).to_have_text("1 fichier refusé")
        expect(page.locator("#batch-rejected li")).to_contain_text(f"mauvais-{screen_name}.csv")
        expect(page.locator("li.batch-file")).to_have_count(4)
        assert_fits(screen, "batch-live")
        screen.shot("batch-live")
        expect(page.locator("#batch-status")).to_have_text("Terminé", timeout=90_000)
        expect(page.locator("#batch-totals")).to_be_visible()
        expect(page.locator("#batch-progress")).to_have_text("4 terminés sur 4 fichiers")
        expect(page.locator('[data-total="rows"]')).to_have_text("1\u202f200")
        for line in page.locator("li.batch-file").all():
            expect(line.locator('[data-cell="status"]')).to_have_text("Terminée")
            expect(line.locator('[data-cell="facts"]')).to_contain_text("300 lignes")
        expect(page.locator("#batch-finished-box")).to_be_visible()
        expect(page.locator("#batch-cancel")).to_be_hidden()  # nothing left to cancel
        expect(page.locator("#batch-delete")).to_be_visible()
        expect(page.locator("#batch-export-xlsx")).to_be_visible()
        assert_fits(screen, "batch-done")
        screen.shot("batch-done")

        page.click(f"text=clinique-a-{screen_name}.csv")
        page.wait_for_url("**/runs/*")
        expect(page.locator("#run-status")).to_have_text("Terminée")
        expect(page.locator("#run-batch")).to_have_text(f"N° {batch_id}")

        page.goto(f"{site.url}/runs")
        group = page.locator(f'tr.batch-group[data-batch-id="{batch_id}"]')
        expect(group).to_contain_text(f"Lot N° {batch_id}")
        expect(group).to_contain_text("4 fichiers · Terminé")
        expect(page.locator("tr.in-batch")).to_have_count(4)
        assert_fits(screen, "runs-with-batch")
        screen.shot("runs-with-batch")

        page.goto(f"{site.url}/batches/{batch_id}")
        page.click("#batch-delete")
        expect(page.locator("#confirm-title")).to_have_text(f"Supprimer le lot {batch_id} ?")
        expect(page.locator("main")).to_contain_text("Le lot (4 validations) sera effacé")
        assert_fits(screen, "batch-delete")
        screen.shot("batch-delete")
        page.click("#confirm-button")
        page.wait_for_url("**/runs")
        expect(page.locator("main")).to_contain_text(
            f"Lot {batch_id} supprimé, avec 4 validations.")
        expect(page.locator("tr.batch-group")).to_have_count(0)
        assert screen.errors == []
    finally:
        screen.close()
