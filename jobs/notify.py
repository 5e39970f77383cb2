"""The notifications job: one delivery attempt of one outbox row (`notifications.deliver`).

Only the row's id travels through Redis. The job owns no retry of its own: the row says
what is due, `deliver` schedules the next attempt, and the sweeper re-enqueues a row whose
job was lost, so a killed work-horse or a Redis restart delays a notification, never loses it.
"""

from __future__ import annotations

from jobs import context


def deliver(notification_id: int) -> str | None:
    """The row's state after this attempt, or None when there was nothing to do."""
    from validateur import notifications

    with context.job_context():
        return notifications.deliver(notification_id)
