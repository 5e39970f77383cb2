"""The worker's Flask app, built from the factory on first use (never at import time), and
`job_context()`, the one way job code enters it.

A forking worker may build the app in the parent (`validateur worker` preloads it); each
work-horse then disposes of the inherited connection pool before touching the database,
because a PostgreSQL connection shared across fork corrupts both processes' sessions.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from flask import Flask

_app: Flask | None = None
_app_pid: int | None = None


def worker_app() -> Flask:
    """The process's app; after a fork the inherited pool is dropped (not closed)."""
    global _app, _app_pid
    if _app is None:
        from validateur import create_app

        _app = create_app()
        _app_pid = os.getpid()
    elif _app_pid != os.getpid():
        from validateur.extensions import db

        with _app.app_context():
            db.engine.dispose(close=False)
        _app_pid = os.getpid()
    return _app


@contextlib.contextmanager
def job_context() -> Iterator[Flask]:
    """The app's context for a job, a callback or a sweep; its session is removed after.

    Removing the session returns its connection to the pool whatever happened, so a failed
    job never leaves an open transaction (and its locks) to the next job of the process.
    """
    from validateur.extensions import db

    app = worker_app()
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()


def preload(app: Flask) -> None:
    """Use an already built app (the worker's parent process) for this process's jobs.

    The ORM's mappers are configured here, once: SQLAlchemy does it lazily at the first
    query, which in a forking worker is the first query of every work-horse (a py-spy
    profile of small jobs put half of the horse's first `session.get` there, about a fifth
    of a 20-row job's CPU).
    """
    global _app, _app_pid
    _app = app
    _app_pid = os.getpid()
    from sqlalchemy.orm import configure_mappers

    import validateur.models  # noqa: F401 - every mapped class registered before configuring

    configure_mappers()
