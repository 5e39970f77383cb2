"""Health of the parts the service depends on, without secrets."""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError
from rq import Worker
from sqlalchemy import text

from validateur import queue
from validateur.extensions import db


def database_ok() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
        return True
    except Exception:
        db.session.rollback()
        return False


def worker_count() -> int | None:
    try:
        return int(Worker.count(connection=queue.redis_manager().client))
    except (RedisError, OSError, queue.QueueUnavailable):
        return None


def check() -> dict[str, Any]:
    database = database_ok()
    redis_up = queue.redis_manager().ping()
    workers = worker_count() if redis_up else None
    ok = database and redis_up
    return {
        "status": "ok" if ok else "degraded",
        "database": "ok" if database else "down",
        "redis": "ok" if redis_up else "down",
        "workers": workers if workers is not None else 0,
    }
