"""Webhook endpoints as the API and the pages manage them: register, list, find, delete,
test. What a caller may see goes through `organizations.visible_to`, as for runs: another
organization's endpoint is not found (404)."""

from __future__ import annotations

from typing import Any

from flask import abort
from flask_login import current_user
from sqlalchemy import select

from validateur import notifications, organizations, webhooks
from validateur.extensions import db
from validateur.models import Notification, Webhook


def register(organization_id: int, url: Any, events: Any, *, allow_private: bool) -> Webhook:
    """A new active endpoint with a new secret, its URL checked (DNS, public address)."""
    checked = webhooks.check_url(url, allow_private=allow_private)
    hook = Webhook(organization_id=organization_id, url=checked,
                   events=webhooks.checked_events(events), secret=webhooks.new_secret(),
                   active=True)
    db.session.add(hook)
    db.session.commit()
    return hook


def visible_webhooks() -> list[Webhook]:
    return list(db.session.execute(
        select(Webhook).where(organizations.visible_to(current_user, Webhook.organization_id))
        .order_by(Webhook.created_at.desc(), Webhook.id.desc())
    ).scalars())


def get_or_404(webhook_id: int) -> Webhook:
    hook = db.session.execute(
        select(Webhook).where(Webhook.id == webhook_id,
                              organizations.visible_to(current_user, Webhook.organization_id))
    ).scalar_one_or_none()
    if hook is None:
        abort(404)
    return hook


def delete(hook: Webhook) -> None:
    """The endpoint and its deliveries (pending ones are not sent any more)."""
    db.session.delete(hook)
    db.session.commit()


def send_test(hook: Webhook) -> Notification:
    """A `webhook.test` event for `hook`, enqueued now; the row as written."""
    row_id = notifications.record_test(hook)
    notifications.dispatch([row_id])
    row = db.session.get(Notification, row_id)
    assert row is not None  # just committed; a delete of its endpoint cannot race a test
    return row
