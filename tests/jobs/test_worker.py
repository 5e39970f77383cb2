"""`validateur worker`: work-horses start cheap (they freeze what they inherit), and the
worker's hand-back and the sweeper are the same for every job type."""

from __future__ import annotations

import gc
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from rq import Queue
from sqlalchemy import func, select

from jobs import context
from jobs.worker import run_worker
from tests.support.runs import make_run
from tests.workers import start_rq_worker, stop, wait_for
from validateur import queue
from validateur.extensions import db
from validateur.maintenance import run_maintenance
from validateur.models import ValidationLog, ValidationRun
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


# -- a second job type: the worker and the sweeper treat any job alike ---------------------

def _run_state(run_id: int) -> tuple[Any, ...]:
    db.session.expire_all()
    run = db.session.get(ValidationRun, run_id)
    assert run is not None
    lines = db.session.execute(select(func.count()).select_from(ValidationLog).where(
        ValidationLog.validation_run_id == run_id)).scalar_one()
    return (run.status, run.phase, run.attempts, run.error_message, run.heartbeat_at, lines)


def test_a_probe_runs_and_writes_its_number(app: Flask, worker_in_this_process: None) -> None:
    with app.app_context():
        job = queue.enqueue_probe(7)
        assert job.meta == {queue.HANDED_BACK_META: queue.ON_PROBE_HANDED_BACK}
    run_worker(app, burst=True)
    job.refresh()
    assert job.return_value() == 7 and job.meta["probe"] == 7


def test_a_deploys_hand_back_and_the_sweeper_leave_runs_alone(
    app: Flask, service_env: dict[str, str], tmp_path: Path
) -> None:
    """A probe whose first argument is a processing run's id, handed back by a deploy.

    The worker used to read `int(job.args[0])` as a run id: this run would have been put
    back to queued with a log line. Now the probe's own callback counts the hand-back, the
    job is first in the queue again, and the run (and its neighbour) are as they were,
    through the worker's own sweeps and one more here.
    """
    with app.app_context():
        run_id = make_run("processing")
        other = make_run("queued")
        before = {run_id: _run_state(run_id), other: _run_state(other)}
        job = queue.enqueue_probe(run_id, seconds=30)
        queue.get_queue().enqueue_call(horse_freeze_count)  # behind it: not started
    env = {**service_env, "VALIDATEUR_SHUTDOWN_GRACE_SECONDS": "1",
           "VALIDATEUR_SWEEP_SECONDS": "1"}
    worker = start_rq_worker(env, tmp_path / "worker.log", plain=False)
    try:
        wait_for(lambda: job.get_meta(refresh=True).get("probeStarted") == run_id, 60)
        time.sleep(1.5)  # a sweep or two of the worker's own maintenance thread
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    finally:
        stop(worker)
    with app.app_context():
        waiting = queue.get_queue()
        assert waiting.job_ids[0] == job.id and len(waiting.job_ids) == 2
        assert job.id not in waiting.failed_job_registry.get_job_ids()
        job.refresh()
        assert job.get_status() == "queued" and job.meta["handedBack"] == 1
        assert "probe" not in job.meta  # it never finished
        report = run_maintenance()
        assert (report.requeued, report.failed) == ([], [])
        assert waiting.job_ids[0] == job.id
        assert {run_id: _run_state(run_id), other: _run_state(other)} == before
