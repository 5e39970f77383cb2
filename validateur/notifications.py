"""The outbox: word of a run's end, written with the end itself, delivered by jobs.

Why an outbox: RQ callbacks do not say « this run is final » (`on_failure` runs on every
failed attempt, and not at all when a work-horse is killed); `runs.finish` does, once. So
`record_run_end` is called inside `finish`'s transaction and writes one row per event per
target (each subscribed webhook endpoint of the run's organization; the owner's e-mail when
their preference asks for it): a run is never final without its notifications, nor are they
sent for a run that is not. `dedupe_key` makes a second write of the same event a no-op.

After the commit, `dispatch` enqueues one delivery job per row on the notifications queue
(its own queue: never behind an hour-long validation). If Redis loses the job, or is down
at that moment, the row is still `pending` and due: the sweeper (`maintenance`) re-enqueues
what has been due for a while (`requeue_due`). A job run twice is harmless: `deliver` takes
its row `FOR UPDATE SKIP LOCKED` and only while it is pending and due.

A failed attempt is retried on `VALIDATEUR_WEBHOOK_RETRY_SECONDS` (scheduled by RQ's
scheduler, with the sweeper as the net), then marked `failed`; a 410 disables the endpoint.
Payloads hold ids, statuses, counts, amounts and a link only, never a file name or a cell.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert

from validateur import batches, mail, queue, webhooks
from validateur.errors import QueueNotConfigured, QueueUnavailable
from validateur.extensions import db
from validateur.models import (
    BatchStatus,
    Notification,
    NotificationState,
    NotifyEmail,
    RunStatus,
    User,
    ValidationRun,
    Webhook,
    utcnow,
)

log = logging.getLogger(__name__)

RUN_EVENTS = {RunStatus.COMPLETED: "validation.completed", RunStatus.FAILED: "validation.failed",
              RunStatus.CANCELLED: "validation.cancelled"}
BATCH_EVENT = "batch.completed"
#: The run statuses each e-mail preference is told about.
EMAIL_STATUSES = {NotifyEmail.NEVER: (), NotifyEmail.FAILURES: (RunStatus.FAILED,),
                  NotifyEmail.ALWAYS: tuple(RUN_EVENTS)}
#: A batch is a failure to tell about when any of its files failed to complete.
BATCH_EMAIL_STATUSES = {
    NotifyEmail.NEVER: (),
    NotifyEmail.FAILURES: (BatchStatus.FAILED, BatchStatus.PARTIAL),
    NotifyEmail.ALWAYS: tuple(s for s in BatchStatus if s.is_final),
}
#: A scheduled job may fire a little before the database's clock says it is due.
EARLY_SECONDS = 1
#: The deliveries list shows this many, newest first.
DELIVERIES_SHOWN = 50
DISABLED_ERROR = "point de terminaison désactivé"


# -- writing (inside the caller's transaction) ------------------------------------------------

def _moment() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _money(value: Decimal | None) -> str:
    return f"{Decimal(value or 0):.2f}"


def run_data(run: ValidationRun) -> dict[str, Any]:
    """The body's `data` for a run: ids, status, counts, amounts and a link only."""
    return {
        "validationId": int(run.id),
        "status": str(RunStatus(run.status)),
        "totalRows": int(run.total_rows or 0),
        "counts": {str(s): int(n) for s, n in run.counts.items()},
        "potentialGain": _money(run.potential_gain),
        "moneyAtRisk": _money(run.money_at_risk),
        "url": f"{current_app.config['VALIDATEUR_PUBLIC_URL']}/runs/{run.id}",
    }


def _insert(event: str, subject: str, data: dict[str, Any], *, organization_id: int | None,
            webhook_id: int | None = None, user_id: int | None = None,
            run_id: int | None = None, batch_id: int | None = None) -> int | None:
    """One outbox row, unless this event already has one for this target (then None)."""
    target = f"webhook:{webhook_id}" if webhook_id is not None else f"user:{user_id}"
    statement = insert(Notification).values(
        event=event, validation_run_id=run_id, batch_id=batch_id,
        organization_id=organization_id, webhook_id=webhook_id, user_id=user_id,
        dedupe_key=f"{event}:{subject}:{target}"[:160],
        message_id=webhooks.new_message_id(),
        payload={"type": event, "timestamp": _moment(), "data": data},
        state=NotificationState.PENDING, attempts=0, next_attempt_at=utcnow(),
        created_at=utcnow(),
    ).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(Notification.id)
    row_id: int | None = db.session.execute(statement).scalar_one_or_none()
    return row_id


def _subscribed(organization_id: int | None, event: str) -> list[int]:
    if organization_id is None:
        return []
    return list(db.session.execute(
        select(Webhook.id).where(Webhook.organization_id == organization_id,
                                 Webhook.active.is_(True), Webhook.events.contains([event]))
    ).scalars())


def write_event(event: str, subject: str, data: dict[str, Any], organization_id: int | None,
                *, run_id: int | None = None, batch_id: int | None = None,
                email_to: int | None = None) -> list[int]:
    """Rows for every endpoint of the organization subscribed to `event`, and for the
    e-mail of user `email_to` when given; their ids (to `dispatch` after the commit)."""
    ids = [_insert(event, subject, data, organization_id=organization_id, webhook_id=hook,
                   run_id=run_id, batch_id=batch_id)
           for hook in _subscribed(organization_id, event)]
    if email_to is not None and current_app.config.get("SMTP_URL"):
        ids.append(_insert(event, subject, data, organization_id=organization_id,
                           user_id=email_to, run_id=run_id, batch_id=batch_id))
    return [row for row in ids if row is not None]


def _wants_email(user_id: int | None, wanted: Mapping[NotifyEmail, tuple[str, ...]],
                 status: str) -> int | None:
    """`user_id` if e-mail is on and that active user's preference asks for one about
    `status`."""
    if user_id is None or not current_app.config.get("SMTP_URL"):
        return None
    preference = db.session.execute(
        select(User.notify_email).where(User.id == user_id, User.active.is_(True))
    ).scalar_one_or_none()
    if preference is None or status not in wanted[NotifyEmail(preference)]:
        return None
    return user_id


def record_run_end(run_id: int) -> list[int]:
    """In `runs.finish`'s transaction: the run's event to its organization's endpoints, and
    its owner's e-mail when their preference asks for it, unless the run belongs to a batch
    (the batch's end sends one e-mail for all its files). Returns the new rows' ids."""
    run = db.session.execute(
        select(ValidationRun).where(ValidationRun.id == run_id)
        .execution_options(populate_existing=True)
    ).scalar_one()
    status = RunStatus(run.status)
    data = run_data(run)
    in_batch = run.batch_id is not None
    recipient = None if in_batch else _wants_email(run.user_id, EMAIL_STATUSES, status)
    return write_event(RUN_EVENTS[status], f"run:{run_id}", data, run.organization_id,
                       run_id=run_id, batch_id=run.batch_id, email_to=recipient)


def batch_data(settled: batches.Settled) -> dict[str, Any]:
    """The body's `data` for a batch: its id, status, file count, totals and a link."""
    summary = batches.summaries([settled.id])[settled.id]
    return {
        "batchId": int(settled.id),
        "status": str(settled.status),
        "fileCount": summary.file_count,
        "runs": {str(s): int(n) for s, n in summary.counts.items()},
        "totalRows": int(summary.rows),
        "counts": {str(s): int(n) for s, n in summary.findings.items()},
        "potentialGain": _money(summary.potential_gain),
        "moneyAtRisk": _money(summary.money_at_risk),
        "url": f"{current_app.config['VALIDATEUR_PUBLIC_URL']}/batches/{settled.id}",
    }


def record_batch_end(settled: batches.Settled) -> list[int]:
    """In the same transaction, when `batches.settle` said the batch just became final:
    `batch.completed` (whatever its status) and the submitter's one e-mail for the batch."""
    recipient = _wants_email(settled.user_id, BATCH_EMAIL_STATUSES, settled.status)
    return write_event(BATCH_EVENT, f"batch:{settled.id}", batch_data(settled),
                       settled.organization_id, batch_id=settled.id, email_to=recipient)


def record_test(hook: Webhook) -> int:
    """A `webhook.test` row for `hook`, committed (each test is an event of its own)."""
    data = {"webhookId": int(hook.id), "url": current_app.config["VALIDATEUR_PUBLIC_URL"]}
    row = _insert(webhooks.TEST_EVENT, f"test:{webhooks.new_message_id()}", data,
                  organization_id=hook.organization_id, webhook_id=hook.id)
    db.session.commit()
    assert row is not None  # a fresh subject never conflicts
    return row


# -- enqueueing ---------------------------------------------------------------------------------

def dispatch(ids: Iterable[int]) -> None:
    """After the commit: one job per row; a Redis failure leaves the rows to the sweeper."""
    for row_id in ids:
        try:
            queue.enqueue_notification(row_id)
        except (QueueUnavailable, QueueNotConfigured) as exc:
            log.warning("notification %s not enqueued (%s); the sweeper will", row_id,
                        type(exc).__name__)


def requeue_due(overdue_seconds: float) -> list[int]:
    """The sweeper's part: rows pending and due for more than `overdue_seconds` (their job
    lost with a worker or a Redis restart) get a new job. Their due time is pushed to now
    first, so the next sweep waits as long again before one more job."""
    cutoff = utcnow() - timedelta(seconds=overdue_seconds)
    ids = list(db.session.execute(
        update(Notification)
        .where(Notification.state == NotificationState.PENDING,
               Notification.next_attempt_at < cutoff)
        .values(next_attempt_at=utcnow())
        .returning(Notification.id)
    ).scalars())
    db.session.commit()
    for row_id in ids:
        queue.enqueue_notification(row_id)  # Redis down: the next sweep tries again
    return ids


def purge_older_than(retention_days: int) -> int:
    """Delivered and failed rows older than the retention (like the runs they tell about)."""
    cutoff = utcnow() - timedelta(days=retention_days)
    result = db.session.execute(
        delete(Notification).where(Notification.state != NotificationState.PENDING,
                                   Notification.created_at < cutoff))
    db.session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]


# -- delivering (the job) -----------------------------------------------------------------------

def _take(notification_id: int) -> Notification | None:
    """The row, locked, if it is pending and due; None when another job has it or it is done."""
    early = utcnow() + timedelta(seconds=EARLY_SECONDS)
    row: Notification | None = db.session.execute(
        select(Notification)
        .where(Notification.id == notification_id,
               Notification.state == NotificationState.PENDING,
               Notification.next_attempt_at <= early)
        .with_for_update(skip_locked=True, of=Notification)
    ).scalar_one_or_none()
    return row


def _send_webhook(row: Notification) -> webhooks.Attempt:
    hook = db.session.get(Webhook, row.webhook_id)
    if hook is None or not hook.active:
        return webhooks.Attempt(None, DISABLED_ERROR, refused=True)
    attempt = webhooks.post(hook.url, hook.secret, row.message_id,
                            webhooks.body_bytes(row.payload),
                            allow_private=current_app.config["VALIDATEUR_WEBHOOK_ALLOW_PRIVATE"])
    if attempt.gone:
        hook.active = False
        log.warning("webhook %s disabled: its endpoint answered 410", hook.id)
    return attempt


def _send_email(row: Notification) -> webhooks.Attempt:
    config = current_app.config
    user = db.session.get(User, row.user_id)
    if user is None or not config.get("SMTP_URL"):
        return webhooks.Attempt(None, "courriel non configuré", refused=True)
    subject, body = mail.compose(row.event, row.payload.get("data", {}))
    try:
        mail.send(config["SMTP_URL"], config["VALIDATEUR_MAIL_FROM"], user.email, subject, body)
    except (OSError, smtplib.SMTPException) as exc:
        return webhooks.Attempt(None, type(exc).__name__)
    return webhooks.Attempt(250)


def _record(row: Notification, attempt: webhooks.Attempt) -> datetime | None:
    """Write the attempt's outcome on the row; the next attempt's time, if there is one."""
    waits = current_app.config["VALIDATEUR_WEBHOOK_RETRY_SECONDS"]
    row.attempts = (row.attempts or 0) + 1
    row.last_status_code = attempt.status_code
    row.last_error = attempt.error[:200] if attempt.error else None
    if attempt.delivered:
        row.state, row.delivered_at, row.next_attempt_at = (
            NotificationState.DELIVERED, utcnow(), None)
        return None
    if attempt.refused or attempt.gone or row.attempts > len(waits):
        row.state, row.next_attempt_at = NotificationState.FAILED, None
        return None
    due = utcnow() + timedelta(seconds=waits[row.attempts - 1])
    row.next_attempt_at = due
    return due


def deliver(notification_id: int) -> str | None:
    """One attempt at one row (the notifications job); its state after, or None when there
    was nothing to do (delivered already, taken by another job, not due yet).

    The row stays locked during the attempt (short timeouts bound it), so a second job for
    the same row skips it instead of sending twice.
    """
    row = _take(notification_id)
    if row is None:
        db.session.rollback()
        return None
    attempt = _send_webhook(row) if row.webhook_id is not None else _send_email(row)
    due = _record(row, attempt)
    state = str(row.state)
    db.session.commit()
    if due is not None:
        try:
            queue.enqueue_notification(notification_id, at=due)
        except (QueueUnavailable, QueueNotConfigured) as exc:
            log.warning("notification %s retry not scheduled (%s); the sweeper will",
                        notification_id, type(exc).__name__)
    return state


# -- reading ------------------------------------------------------------------------------------

def deliveries_of(webhook_id: int) -> list[Notification]:
    return list(db.session.execute(
        select(Notification).where(Notification.webhook_id == webhook_id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(DELIVERIES_SHOWN)
    ).scalars())


def delivery_json(row: Notification) -> dict[str, Any]:
    def moment(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {"id": int(row.id), "event": row.event, "webhookId": row.message_id,
            "attempts": int(row.attempts or 0), "lastStatusCode": row.last_status_code,
            "state": str(row.state), "nextAttemptAt": moment(row.next_attempt_at),
            "lastError": row.last_error, "createdAt": moment(row.created_at),
            "deliveredAt": moment(row.delivered_at)}

