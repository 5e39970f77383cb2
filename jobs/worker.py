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
- Redis lost (restarted, or hung past the socket timeout) never ends the worker. RQ's own
  loop waits for Redis only while it dequeues; anywhere else a `ConnectionError` ends its loop
  and the process. Here the worker's own bookkeeping (heartbeats, state, RQ's periodic
  cleanup, suspension check) skips a round it cannot write, a job whose bookkeeping failed is
  left to the sweeper, and should RQ's loop end anyway it is started again once Redis answers
  (backing off from `RECONNECT_FIRST_SECONDS` to `RECONNECT_MAX_SECONDS`). A Redis that came
  back empty has forgotten the worker: the next heartbeat registers it again, the maintenance
  thread starts the scheduler again (its process dies with the connection), and the sweeper
  gives the runs whose jobs were forgotten new ones (`validateur.maintenance`). Redis
  unreachable when the worker starts, refusing its password, or lost in burst mode stays an
  error, as with RQ.

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
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, Worker, worker_registration
from rq.exceptions import StopRequested
from rq.executions import Execution
from rq.job import Job
from rq.scheduler import RQScheduler
from rq.worker.base import WorkerStatus

from jobs import context
from validateur.queue import HANDED_BACK_META, mask_url, queue_names

log = logging.getLogger(__name__)
#: Modules holding job functions and their callbacks, imported once by the worker's parent.
JOB_MODULES = ("jobs.validation", "jobs.callbacks", "jobs.probe", "jobs.notify")
#: RQ heartbeat cadence while a job runs; keeps abandoned-job detection by RQ near 70 s.
JOB_MONITORING_SECONDS = 10
#: What a Redis that is gone (restarted) or hung past the socket timeout raises.
REDIS_LOST = (RedisConnectionError, RedisTimeoutError)
#: Back-off between tries to reach Redis again before the work loop starts again.
RECONNECT_FIRST_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 10.0


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
        #: Set when a Redis failure was absorbed; a work loop that ends after one is restarted.
        self._redis_lost = False
        self._bootstrapped = False

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

    # -- surviving a Redis restart or hang ----------------------------------------------
    def work(self, burst: bool = False, *args: Any, **kwargs: Any) -> bool:
        """RQ's work loop, started again when it ended because Redis was lost (module doc).

        A stop request (a deploy) and a burst end it as before. A loop that ends without one,
        after a Redis failure, is restarted once Redis answers: the worker registers again
        under its name, subscribes again and starts its scheduler again.
        """
        worked = False
        while True:
            self._redis_lost = False
            try:
                worked = super().work(burst, *args, **kwargs) or worked
            except REDIS_LOST as exc:
                # Unreachable at start (or refusing our password), or in burst mode: an
                # error as before. Later, its teardown could not say goodbye to Redis.
                if burst or not self._bootstrapped or isinstance(exc, AuthenticationError):
                    raise
                self._note_redis_lost("teardown", exc)
            if burst or self._stop_requested or self._stop_event.is_set():
                return worked
            if not self._redis_lost and self._redis_answers():
                return worked  # not Redis: RQ's loop logged what ended it, exit as RQ does
            log.warning("work loop ended: Redis lost; starting it again once Redis answers")
            try:
                if not self._wait_for_redis():
                    return worked
                self._reset_after_outage()
            except StopRequested:  # SIGTERM while waiting: RQ's handler raises it when idle
                return worked

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        super().bootstrap(*args, **kwargs)
        self._bootstrapped = True

    def _note_redis_lost(self, what: str, exc: Exception) -> None:
        if not self._redis_lost:
            log.warning("Redis unreachable (%s): %s skipped", type(exc).__name__, what)
        self._redis_lost = True

    def _redis_answers(self) -> bool:
        try:
            return bool(self.connection.ping())
        except REDIS_LOST:
            return False

    def _wait_for_redis(self) -> bool:
        """PING with back-off until Redis answers (True) or a stop is requested (False)."""
        delay = RECONNECT_FIRST_SECONDS
        while not self._stop_event.is_set():
            try:
                self.connection.ping()
                return True
            except AuthenticationError:
                raise  # Redis came back with another password: not ours to wait out
            except REDIS_LOST:
                self._stop_event.wait(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
        return False

    def _reset_after_outage(self) -> None:
        """Leave what the ended loop held, so that `work` can start a clean one.

        The pubsub thread and the scheduler are stopped (a new loop starts its own); the
        worker's key is marked dead so RQ accepts its name again (a Redis that kept it would
        otherwise refuse "an active worker" of that name). Under `fork_lock`, so the
        maintenance thread does not start the old scheduler again meanwhile.
        """
        with self.fork_lock:
            if self.scheduler is not None:
                self.stop_scheduler()
                self.scheduler = None
            with contextlib.suppress(*REDIS_LOST):
                self.unsubscribe()
            self.pubsub_thread = None
            if self.horse_pid:  # a horse its loop lost track of: let it end its job
                self.wait_for_horse()
                self._horse_pid = 0
            self.executions.clear()
            with contextlib.suppress(*REDIS_LOST):
                self.register_death()

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """RQ's heartbeat; on its own (no pipeline) it also registers the worker again when
        Redis lost the registration (a restart), and skips a beat Redis cannot take."""
        if pipeline is not None:
            super().heartbeat(timeout, pipeline=pipeline)
            return
        try:
            with self.connection.pipeline() as pipe:
                pipe.sismember(self.redis_workers_keys, self.key)
                super().heartbeat(timeout, pipeline=pipe)
                registered = pipe.execute()[0]
            if not registered:
                self._register_again()
        except REDIS_LOST as exc:
            self._note_redis_lost("heartbeat", exc)

    def _register_again(self) -> None:
        """Write the worker's key and registrations again, as RQ's `register_birth` does."""
        with self.connection.pipeline() as pipe:
            pipe.hset(self.key, mapping={**self.serialize(), "state": self.get_state()})
            worker_registration.register(self, pipe)
            pipe.expire(self.key, self.worker_ttl + 60)
            pipe.execute()
        log.warning("worker %s registered again: Redis had forgotten it", self.name)

    def set_state(self, state: str, pipeline: Any = None) -> None:
        try:
            super().set_state(state, pipeline=pipeline)
        except REDIS_LOST as exc:  # only without a pipeline: the state is kept in memory
            self._note_redis_lost("state", exc)

    def maintain_heartbeats(self, job: Job, execution: Execution) -> None:
        """While a horse works: a beat Redis cannot take is skipped, the horse goes on."""
        try:
            super().maintain_heartbeats(job, execution)
        except REDIS_LOST as exc:
            self._note_redis_lost("job heartbeat", exc)

    def run_maintenance_tasks(self) -> None:
        try:
            super().run_maintenance_tasks()
        except REDIS_LOST as exc:  # RQ's periodic cleanup: tried again on the next round
            self._note_redis_lost("RQ cleanup", exc)

    def check_for_suspension(self, burst: bool) -> None:
        try:
            super().check_for_suspension(burst)
        except REDIS_LOST as exc:
            self._note_redis_lost("suspension check", exc)

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
        """RQ's, and a job whose bookkeeping Redis could not take is left to the sweeper.

        Before the fork (the execution could not be written) the job was popped and runs
        nowhere: the sweeper finds it queued on no queue, or gone, and re-enqueues its run.
        After it (the horse's outcome could not be read) the horse is waited for: a validation
        commits its outcome to PostgreSQL itself, and a run left open is the sweeper's.
        """
        self._running_job = job.id
        try:
            super().execute_job(job, queue)
        except REDIS_LOST as exc:
            self._note_redis_lost(f"bookkeeping of job {job.id}", exc)
            if self.horse_pid:
                self.wait_for_horse()
                self._horse_pid = 0
            self.executions.clear()
            self.set_state(WorkerStatus.IDLE)
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
        retry is spent and no failure is recorded: a deploy is not the job's fault. Its
        start and end times go, as RQ's own requeue drops them: a queued job has neither.
        """
        job.started_at = job.ended_at = None
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
