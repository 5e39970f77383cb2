"""`validateur worker`: an RQ worker with the app preloaded, a maintenance thread and a
bounded warm shutdown.

- The app (config, engine) is built once in the parent so each forked work-horse starts its
  job without paying for the factory; `jobs.context` drops the inherited connection pool in
  the horse.
- A daemon thread runs `validateur.maintenance` every `VALIDATEUR_SWEEP_SECONDS`, whatever
  the worker is doing (RQ's own maintenance only runs between jobs). It holds a lock that
  `fork_work_horse` also takes, so a horse is never forked while the thread holds a lock.
- SIGTERM (deploy) is RQ's warm shutdown, bounded: the current job gets
  `VALIDATEUR_SHUTDOWN_GRACE_SECONDS` to finish; then its horse is killed and the job goes
  back to the front of the queue at once (no retry spent: a deploy is not the job's fault),
  to complete on another worker. Its transaction dies with the horse, so nothing partial stays.
  A second SIGTERM or SIGINT ends the grace at once (`validateur dev` sends one at the
  second Ctrl+C): the job is handed back the same way, where RQ would have failed it.
  The hand-back is the same for every job type; what it means for the job's domain (a
  validation's run goes back to queued) is said by the function named in the job's meta
  (`queue.HANDED_BACK_META`, set at enqueue), called here with the job. RQ's `on_stopped`
  does not fit: RQ calls it for a stop-job command, which is how a cancel ends a job.
- The job modules (`JOB_MODULES`) are imported once in the parent, so a horse does not pay
  for them; a hand-back callback is only looked up among them.

Plain `rq worker --url "$REDIS_URL" --with-scheduler validation-priority validation` works
too, without the thread (run `validateur cleanup` on a schedule then) and with RQ's
unbounded warm shutdown.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import signal
import threading
from types import FrameType
from typing import Any

from flask import Flask
from redis import Redis
from rq import Queue, Worker
from rq.job import Job
from rq.scheduler import RQScheduler

from jobs import context
from validateur.queue import HANDED_BACK_META, mask_url, queue_names

log = logging.getLogger(__name__)
#: Modules holding job functions and their callbacks, imported once by the worker's parent.
JOB_MODULES = ("jobs.validation", "jobs.callbacks", "jobs.probe", "jobs.notify")
#: RQ heartbeat cadence while a job runs; keeps abandoned-job detection by RQ near 70 s.
JOB_MONITORING_SECONDS = 10


#: RQ's scheduler lock lives `interval + 60` s and its holder refreshes it every `interval`
#: (1 s): a lock left this long without refresh belongs to a scheduler that is gone.
SCHEDULER_LOCK_SECONDS = 61
SCHEDULER_SILENT_SECONDS = 10
#: Delete the lock only if the same holder still has it and it is still not refreshed.
_RELEASE_SILENT_LOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] and redis.call('ttl', KEYS[1]) < tonumber(ARGV[2]) then
    return redis.call('del', KEYS[1])
end
return 0
"""


def release_silent_scheduler_lock(connection: Redis, queue_name: str) -> bool:
    """Release `queue_name`'s scheduler lock when its holder stopped refreshing it."""
    key = RQScheduler.get_locking_key(queue_name)
    holder = connection.get(key)
    if holder is None:
        return False
    fresh_above = SCHEDULER_LOCK_SECONDS - SCHEDULER_SILENT_SECONDS
    released = bool(connection.eval(_RELEASE_SILENT_LOCK, 1, key, holder, fresh_above))
    if released:
        log.warning("scheduler lock of queue %s released: its holder went silent", queue_name)
    return released


class ValidateurWorker(Worker):
    """RQ's forking worker plus maintenance thread and bounded shutdown (see module doc)."""

    def __init__(self, *args: Any, app: Flask, **kwargs: Any) -> None:
        kwargs.setdefault("job_monitoring_interval", JOB_MONITORING_SECONDS)
        super().__init__(*args, **kwargs)
        self.app = app
        self.fork_lock = threading.Lock()
        self._stop_event = threading.Event()
        self._grace_timer: threading.Timer | None = None
        self._handed_back_job: str | None = None
        self._running_job: str | None = None

    # -- maintenance thread -------------------------------------------------------------
    def start_maintenance_thread(self) -> None:
        interval = self.app.config["VALIDATEUR_SWEEP_SECONDS"]
        thread = threading.Thread(target=self._maintain, args=(interval,), daemon=True,
                                  name="validateur-maintenance")
        thread.start()

    def _maintain(self, interval: float) -> None:
        from validateur.maintenance import run_maintenance

        while not self._stop_event.wait(interval):
            with self.fork_lock, context.job_context():
                try:
                    self._ensure_scheduler()
                    run_maintenance()
                except Exception as exc:  # the next sweep tries again
                    log.warning("maintenance failed: %s", type(exc).__name__)

    def _ensure_scheduler(self) -> None:
        """Take over scheduling (retries wait there) when the scheduler's holder died.

        RQ itself only tries between jobs, every few minutes, and a dead holder's lock lives
        on for about a minute: retries due meanwhile would wait for it. A lock its holder has
        not refreshed for `SCHEDULER_SILENT_SECONDS` is released here first (RQ refreshes it
        every second), then taken at once. With two queues, this worker's scheduler may hold
        one queue's lock while a dead holder kept the other's: it is restarted to take both.
        """
        scheduler = self.scheduler
        if scheduler is None:
            return
        process = getattr(scheduler, "_process", None)
        alive = process is not None and process.is_alive()
        mine = scheduler.name.encode()
        missing = [name for name in self.queue_names()
                   if self.connection.get(RQScheduler.get_locking_key(name)) != mine]
        if alive and not missing:
            return
        for name in missing:
            release_silent_scheduler_lock(self.connection, name)
        free = [name for name in missing
                if self.connection.get(RQScheduler.get_locking_key(name)) is None]
        if alive:
            if not free:
                return  # the other queues' schedulers are alive elsewhere
            # A running scheduler only re-reads its locks every two minutes: restart it, so
            # the new one holds every free queue's lock (the old one gives its own back).
            self.stop_scheduler()
        scheduler.acquire_locks(auto_start=True)

    def fork_work_horse(self, job: Job, queue: Queue) -> None:
        with self.fork_lock:
            super().fork_work_horse(job, queue)

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        """The horse's entry point: first, freeze what it inherited out of its own GC.

        A collection in the horse would otherwise walk (and so copy) pages of objects it
        inherited from the parent: 3–6 ms of CPU per small job measured. Freezing only
        relinks the collector's lists, and the parent's collector is left as it was.
        """
        gc.freeze()
        super().main_work_horse(job, queue)

    # -- bounded warm shutdown ----------------------------------------------------------
    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stop_event.set()
        if self.horse_pid and self._grace_timer is None:
            grace = self.app.config["VALIDATEUR_SHUTDOWN_GRACE_SECONDS"]
            self._grace_timer = threading.Timer(grace, self._hand_back_current_job,
                                                args=("shutdown grace over",))
            self._grace_timer.daemon = True
            self._grace_timer.start()
        super().request_stop(signum, frame)  # may raise StopRequested when idle

    def request_force_stop(self, signum: int, frame: FrameType | None) -> None:
        """A second SIGTERM or SIGINT: hand the running job back to the queue now.

        RQ's own cold shutdown kills the horse and the job fails (a retry spent, or the run
        failed); here the job goes back to the front of the queue, as when the grace is over.
        Without a running job, RQ's cold shutdown (exit at once).
        """
        if self._running_job is not None and self.horse_pid:
            if self._grace_timer is not None:
                self._grace_timer.cancel()
            self._hand_back_current_job("second stop signal")
            return
        super().request_force_stop(signum, frame)

    def execute_job(self, job: Job, queue: Queue) -> None:
        self._running_job = job.id
        try:
            super().execute_job(job, queue)
        finally:
            self._running_job = None

    def _hand_back_current_job(self, reason: str) -> None:
        job_id = self._running_job
        if job_id is None or not self.horse_pid or self._handed_back_job == job_id:
            return
        log.warning("%s: handing job %s back to the queue", reason, job_id)
        self._handed_back_job = job_id
        self.kill_horse(signal.SIGKILL)

    def handle_job_failure(self, job: Job, queue: Queue, started_job_registry: Any = None,
                           exc_string: str = "", execution: Any = None) -> None:
        if job.id == self._handed_back_job and job.has_rate_limit:
            self._handed_back_job = None
            self._hand_back_keeping_slot(job, queue, execution)
            _tell_job_module(job)
            return
        handed_back = job.id == self._handed_back_job
        retries_left = job.retries_left
        super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)
        if handed_back:
            self._handed_back_job = None
            job.retries_left = retries_left  # RQ counted a retry: a deploy is not one
            self._requeue_at_front(job, queue)
            _tell_job_module(job)

    def _hand_back_keeping_slot(self, job: Job, queue: Queue, execution: Any) -> None:
        """A rate-limited job we interrupted goes first in its queue, keeping its slot.

        RQ's failure handling would release the job's slot (its organization's next waiting
        job takes it) and our re-enqueue would then make the job wait behind its siblings.
        Instead, what RQ itself does for a retry without delay: the execution is cleaned up
        and the job pushed back, `queued`, at the front of its own queue (`job.origin`), in
        one transaction. The job stays in the key's `allowed` set, where a queued job
        legitimately is: one slot before, the same slot after, none leaked or doubled. No
        retry is spent and no failure is recorded: a deploy is not the job's fault.
        """
        with self.connection.pipeline() as pipe:
            self.cleanup_execution(job, pipeline=pipe, execution=execution)
            queue._enqueue_job(job, pipeline=pipe, at_front=True)
            pipe.execute()

    def _requeue_at_front(self, job: Job, queue: Queue) -> None:
        """Undo RQ's failure bookkeeping for a job we interrupted, and queue it first.

        Whatever RQ did with it (failed it, scheduled its retry, or queued the retry at once),
        the job ends up once in the queue, at its front. (Rate-limited jobs never get here:
        `_hand_back_keeping_slot`.)
        """
        for undo in (queue.scheduled_job_registry.remove, queue.failed_job_registry.remove,
                     queue.remove):
            with contextlib.suppress(Exception):  # each one independently: it may not be there
                undo(job)
        queue.enqueue_job(job, at_front=True)


def _tell_job_module(job: Job) -> None:
    """Call the job's hand-back callback (`queue.HANDED_BACK_META`), if it names one.

    Only a function of `JOB_MODULES` is called (the name comes from Redis). A failing
    callback is logged: the job is queued anyway, and its next attempt starts from there.
    """
    name = job.meta.get(HANDED_BACK_META)
    if not isinstance(name, str):
        return
    module_name, _, function_name = name.rpartition(".")
    if module_name not in JOB_MODULES:
        log.warning("job %s: hand-back callback outside the job modules ignored", job.id)
        return
    try:
        callback = getattr(importlib.import_module(module_name), function_name)
        callback(job)
    except Exception as exc:
        log.warning("job %s: hand-back callback failed (%s)", job.id, type(exc).__name__)


def run_worker(app: Flask, *, burst: bool = False, queues: list[str] | None = None) -> bool:
    """One worker on `queues` (default: `<queue>-priority` then `<queue>`), in that order.

    RQ takes its queues in strict order: a worker listening to both always takes priority
    work first. A worker given only `<queue>-priority` is reserved for priority work.
    """
    context.preload(app)
    # Imported once here rather than by every work-horse when RQ resolves the job's name.
    for module_name in JOB_MODULES:
        importlib.import_module(module_name)
    url = app.config["REDIS_URL"]
    connection = Redis.from_url(url, health_check_interval=30, socket_connect_timeout=5)
    # Notifications first: their jobs last seconds and must not wait behind validations.
    names = queues or [app.config["VALIDATEUR_NOTIFICATIONS_QUEUE"],
                       *queue_names(app.config["VALIDATEUR_QUEUE"])]
    listened = [Queue(name, connection=connection) for name in names]
    log.info("worker listening on %s at %s", ", ".join(names), mask_url(url))
    worker = ValidateurWorker(listened, connection=connection, app=app)
    if not burst:
        worker.start_maintenance_thread()
    return bool(worker.work(burst=burst, with_scheduler=True))
