"""`validateur worker`'s work-horses start cheap: they freeze what they inherit."""

from __future__ import annotations

import gc
import signal
from collections.abc import Iterator

import pytest
from flask import Flask
from rq import Queue

from jobs import context
from jobs.worker import run_worker
from validateur.queue import redis_manager


def horse_freeze_count() -> int:
    """Run in the work-horse: how many inherited objects its garbage collector leaves alone."""
    return gc.get_freeze_count()


@pytest.fixture()
def worker_in_this_process() -> Iterator[None]:
    """A worker run here installs its signal handlers and preloads its app: undo both."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    preloaded = (context._app, context._app_pid)
    try:
        yield
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        context._app, context._app_pid = preloaded


@pytest.mark.usefixtures("worker_in_this_process")
def test_the_horse_freezes_what_it_inherited_and_the_parent_does_not(app: Flask) -> None:
    with app.app_context():
        queue = Queue(app.config["VALIDATEUR_QUEUE"], connection=redis_manager().client)
        job = queue.enqueue(horse_freeze_count)
    run_worker(app, burst=True)
    job.refresh()
    frozen_in_horse = job.return_value()
    assert isinstance(frozen_in_horse, int)
    assert frozen_in_horse > 10_000  # the app, SQLAlchemy, RQ…: everything the parent built
    assert gc.get_freeze_count() == 0  # the parent's collector is untouched
