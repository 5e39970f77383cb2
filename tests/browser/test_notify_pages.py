"""« Préférences » and the webhooks pages at 1280 px and 390 px: they fit, they are French,
and a manager can choose, add (refused address said in French), test, read deliveries and
delete with confirmation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from tests.support.api import Person
from tests.support.browser import SCREEN_IDS, Screen, Site, assert_fits, open_screen
from validateur import webhooks
from validateur.extensions import db
from validateur.models import Notification, NotificationState, User, Webhook, utcnow

pytestmark = pytest.mark.browser
LONG_URL = ("https://logiciel-de-facturation.exemple.ca/api/v2/integrations/validateur/"
            "webhooks/clinique-medicale-du-vieux-quebec")


def _visit(screen: Screen, site: Site, path: str, label: str, status: int = 200) -> Any:
    response = screen.page.goto(f"{site.url}{path}")
    assert response is not None and response.status == status, path
    assert_fits(screen, label)
    screen.shot(label)
    return screen.page


def _webhook_with_deliveries(app: Flask, person: Person) -> int:
    with app.app_context():
        user = db.session.query(User).filter_by(email=person.email).one()
        hook = Webhook(organization_id=user.organization_id, url=LONG_URL,
                       events=list(webhooks.EVENTS), secret=webhooks.new_secret())
        db.session.add(hook)
        db.session.flush()
        now = utcnow()
        for n, (event, state, code, attempts) in enumerate([
                ("validation.completed", NotificationState.DELIVERED, 200, 1),
                ("batch.completed", NotificationState.PENDING, 503, 2),
                ("validation.failed", NotificationState.FAILED, 410, 1)]):
            db.session.add(Notification(
                event=event, organization_id=user.organization_id, webhook_id=hook.id,
                dedupe_key=f"browser:{hook.id}:{n}", message_id=webhooks.new_message_id(),
                payload={"type": event}, state=state, attempts=attempts,
                last_status_code=code, created_at=now - timedelta(minutes=n),
                next_attempt_at=now + timedelta(minutes=5) if code == 503 else None,
                last_error=None if code == 200 else f"réponse HTTP {code}"))
        db.session.commit()
        return int(hook.id)


@pytest.mark.parametrize("screen_name", SCREEN_IDS)
def test_notification_pages_fit_and_work(app: Flask, site: Site, chromium: Any,
                                         make_person: Any, screen_name: str) -> None:
    from playwright.sync_api import expect

    manager = make_person("manager")
    hook_id = _webhook_with_deliveries(app, manager)
    screen = open_screen(chromium, screen_name)
    try:
        screen.login(site, manager)
        page = _visit(screen, site, "/preferences", "preferences")
        page.check("input[value=failures]")
        page.click("#save-preferences")
        expect(page.locator(".flash.success")).to_have_text("Préférences enregistrées.")
        expect(page.locator("input[value=failures]")).to_be_checked()

        page = _visit(screen, site, "/organization", "organization-with-webhooks")
        page.click("#webhooks-link")
        expect(page.locator("h1")).to_have_text("Webhooks")
        assert_fits(screen, "webhooks")
        screen.shot("webhooks")
        expect(page.locator("#webhooks-table")).to_contain_text("Lot terminé")

        page.fill("#url", "http://127.0.0.1:9/x")
        page.click("#add-webhook-button")
        expect(page.locator(".flash.error")).to_contain_text("réseau privé ou local")
        assert_fits(screen, "webhooks-refused")
        screen.shot("webhooks-refused")

        page = _visit(screen, site, f"/organization/webhooks/{hook_id}/deliveries",
                      "webhook-deliveries")
        expect(page.locator("#deliveries-caption")).to_contain_text("3 livraisons")
        expect(page.locator("#deliveries-table")).to_contain_text("livrée")
        page.click("#send-test")
        expect(page.locator(".flash.success")).to_contain_text("Événement de test envoyé")
        expect(page.locator("#deliveries-caption")).to_contain_text("4 livraisons")
        assert_fits(screen, "webhook-deliveries-tested")

        page = _visit(screen, site, f"/organization/webhooks/{hook_id}/delete", "webhook-delete")
        page.click("#confirm-button")
        expect(page.locator(".flash.success")).to_have_text("Webhook supprimé.")
        expect(page.locator("#no-webhooks")).to_be_visible()

        # The answer to an added webhook (its secret, once) as the page renders it.
        client = app.test_client()
        client.post("/login", data={"email": manager.email, "password": manager.password})
        app.config["VALIDATEUR_WEBHOOK_ALLOW_PRIVATE"] = True
        try:
            added = client.post("/organization/webhooks", data={
                "url": "http://127.0.0.1:9/x", "events": ["validation.completed"]})
        finally:
            app.config["VALIDATEUR_WEBHOOK_ALLOW_PRIVATE"] = False
        assert added.status_code == 201
        page.set_content(added.get_data(as_text=True))
        page.wait_for_load_state("networkidle")
        expect(page.locator("#webhook-secret")).to_contain_text("whsec_")
        assert_fits(screen, "webhook-secret")
        screen.shot("webhook-secret")
        # The refused address answered 400 on purpose; nothing else may fail.
        assert [e for e in screen.errors if "400 (BAD REQUEST)" not in e] == []
    finally:
        screen.close()
