"""`validateur worker`'s work-horses start cheap: forked with the parent's objects frozen."""

from __future__ import annotations

import gc

from flask import Flask
from rq import Queue

from jobs.worker import run_worker
from validateur.queue import redis_manager


def horse_freeze_count() -> int:
    """Run in the work-horse: how many inherited objects its garbage collector leaves alone."""
    return gc.get_freeze_count()


def test_the_horse_leaves_inherited_objects_to_the_parent_which_unfreezes(app: Flask) -> None:
    with app.app_context():
        queue = Queue(app.config["VALIDATEUR_QUEUE"], connection=redis_manager().client)
        job = queue.enqueue(horse_freeze_count)
    run_worker(app, burst=True)
    job.refresh()
    frozen_in_horse = job.return_value()
    assert isinstance(frozen_in_horse, int)
    assert frozen_in_horse > 10_000  # the app, SQLAlchemy, RQ…: everything the parent built
    assert gc.get_freeze_count() == 0  # the parent's own garbage is still collected
