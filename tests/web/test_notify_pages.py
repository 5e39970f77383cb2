"""The « Préférences » page and the webhooks pages under « Mon organisation »: French, CSRF
forms, the secret shown once, managers only, another organization's webhook not found."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.api import Person
from validateur.extensions import db
from validateur.models import Notification, User
from validateur.receiver import Receiver


def _login(app: Flask, person: Person) -> FlaskClient:
    client = app.test_client()
    client.post("/login", data={"email": person.email, "password": person.password})
    return client


@pytest.fixture()
def receiver(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    monkeypatch.setitem(app.config, "VALIDATEUR_WEBHOOK_ALLOW_PRIVATE", True)
    found = Receiver().up()
    yield found
    found.down()


def test_preferences_page_saves_the_choice(app: Flask, editor: Person) -> None:
    client = _login(app, editor)
    page = client.get("/preferences").get_data(as_text=True)
    assert "Préférences" in page and "Jamais" in page and 'checked id="notify_email-0"' in page
    saved = client.post("/preferences", data={"notify_email": "always"}, follow_redirects=True)
    assert "Préférences enregistrées." in saved.get_data(as_text=True)
    with app.app_context():
        user = db.session.query(User).filter_by(email=editor.email).one()
        assert user.notify_email == "always"
    assert client.post("/preferences", data={"notify_email": "parfois"}).status_code == 400


def test_webhooks_pages_for_a_manager(app: Flask, make_person: Any,
                                      receiver: Receiver) -> None:
    manager = make_person("manager")
    client = _login(app, manager)
    assert "gérer les webhooks" in client.get("/organization").get_data(as_text=True)
    empty = client.get("/organization/webhooks").get_data(as_text=True)
    assert "Aucun webhook pour le moment." in empty
    added = client.post("/organization/webhooks", data={
        "url": receiver.url, "events": ["validation.completed", "batch.completed"]})
    assert added.status_code == 201
    html = added.get_data(as_text=True)
    assert "Copiez-le maintenant" in html and "whsec_" in html
    again = client.get("/organization/webhooks").get_data(as_text=True)
    assert "whsec_" not in again and receiver.url in again
    assert "Validation terminée, Lot terminé" in again

    with app.app_context():
        hook_id = db.session.execute(db.text("SELECT id FROM webhooks")).scalar_one()
    tested = client.post(f"/organization/webhooks/{hook_id}/test", follow_redirects=True)
    page = tested.get_data(as_text=True)
    assert "Événement de test envoyé" in page and "Événement de test" in page
    assert "en attente" in page
    with app.app_context():
        assert db.session.query(Notification).count() == 1

    outsider = _login(app, make_person("manager"))
    assert outsider.get(f"/organization/webhooks/{hook_id}/deliveries").status_code == 404
    assert outsider.post(f"/organization/webhooks/{hook_id}/delete").status_code == 404
    assert _login(app, make_person("editor")).get("/organization/webhooks").status_code == 403

    asked = client.get(f"/organization/webhooks/{hook_id}/delete").get_data(as_text=True)
    assert "Supprimer ce webhook ?" in asked
    done = client.post(f"/organization/webhooks/{hook_id}/delete", follow_redirects=True)
    assert "Webhook supprimé." in done.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(Notification).count() == 0


def test_a_refused_address_is_said_in_french(app: Flask, make_person: Any) -> None:
    client = _login(app, make_person("manager"))
    refused = client.post("/organization/webhooks", data={
        "url": "http://127.0.0.1:9/x", "events": ["validation.failed"]})
    assert refused.status_code == 400
    assert "réseau privé ou local" in refused.get_data(as_text=True)
    none = client.post("/organization/webhooks", data={"url": "https://exemple.ca/x"})
    assert "Choisissez au moins un événement." in none.get_data(as_text=True)
