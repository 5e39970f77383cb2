"""Health of the parts the service depends on, without secrets, within `HEALTH_TIMEOUT_SECONDS`.

Each dependency gets one try with a short budget (a hung server answers nothing, it does not
refuse): PostgreSQL through a bounded wait without liveness probe, Redis through its
one-try health client. Redis is asked in a thread while PostgreSQL is asked, so the answer
takes the slower of the two, not their sum (under 3 s whichever hangs).
"""

from __future__ import annotations

import threading
from typing import Any

from rq import Worker
from sqlalchemy import text

from validateur import queue
from validateur.config import HEALTH_TIMEOUT_SECONDS
from validateur.database import WaitBudget, bounded_waits
from validateur.errors import QUEUE_DOWN
from validateur.extensions import db

#: Past this, a Redis check still running counts as down (it gives up by itself just after).
REDIS_JOIN_SECONDS = 2 * HEALTH_TIMEOUT_SECONDS + 0.5


def database_ok() -> bool:
    try:
        with bounded_waits(WaitBudget(HEALTH_TIMEOUT_SECONDS, probe=False)):
            db.session.execute(text("SELECT 1"))
        return True
    except Exception:
        db.session.rollback()
        return False


def redis_status(manager: queue.RedisManager) -> tuple[bool, int | None]:
    """(Redis answers, number of workers) on the health client."""
    if not manager.ping():
        return False, None
    try:
        return True, int(Worker.count(connection=manager.health_client))
    except QUEUE_DOWN:
        return True, None


def check() -> dict[str, Any]:
    manager = queue.redis_manager()
    found: list[tuple[bool, int | None]] = []
    asker = threading.Thread(target=lambda: found.append(redis_status(manager)), daemon=True,
                             name="validateur-health-redis")
    asker.start()
    database = database_ok()
    asker.join(REDIS_JOIN_SECONDS)
    redis_up, workers = found[0] if found else (False, None)
    ok = database and redis_up
    return {
        "status": "ok" if ok else "degraded",
        "database": "ok" if database else "down",
        "redis": "ok" if redis_up else "down",
        "workers": workers if workers is not None else 0,
    }
