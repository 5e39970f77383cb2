"""Racing a transaction: an action on another connection, and who is waiting for a lock."""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Flask
from sqlalchemy import text

from validateur.extensions import db


class Beside(threading.Thread):
    """`action(run_id)` in its own app context (its own session and connection)."""

    def __init__(self, app: Flask, action: Callable[[int], object], run_id: int) -> None:
        super().__init__(daemon=True)
        self._app, self._action, self._run_id = app, action, run_id
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self._app.app_context():
                self._action(self._run_id)
                db.session.remove()
        except BaseException as exc:  # reported by the test
            self.error = exc


def waiting_for_a_lock(app: Flask) -> int:
    """Sessions of this database waiting for a lock now (pg_stat_activity)."""
    with app.app_context():
        count: int = db.session.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'")).scalar_one()
        db.session.commit()
    return count
