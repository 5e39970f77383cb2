"""Maintenance: recover runs that lost their job, remove orphan files, purge old runs.

Runs from a thread of every `validateur worker` (every `VALIDATEUR_SWEEP_SECONDS`) and from
`validateur cleanup`. It is the safety net under RQ's own retry paths, covering what RQ
cannot see: a work-horse killed so hard that no callback ran, a whole machine lost, Redis
restarted and forgetting its jobs, a retry budget exhausted without the run being failed.
A run is stalled when it shows no heartbeat for `VALIDATEUR_STALL_SECONDS` (workers beat
twice a second while they work) and its RQ job is not really waiting to run: a job is
waiting when it is scheduled (a retry), deferred, waiting for its organization's slot (in the
rate-limit key's waiting set), or queued *and on its queue*. A queued job on no queue is a
`BLPOP` orphan: a worker listening to several queues pops a job with `BLPOP`, which is not
atomic with registering it as started, so a worker killed in between leaves a job `queued`
nowhere; seen so on two sweeps in a row (the gap is milliseconds for a live worker), it is
recovered like a lost one. A queued run whose job has a live RQ execution is in a live
worker's hands, not lost: the run has waited in line (its last sign of life is old) and the
horse's first write is on its way, however long a loaded machine takes to fork it. A live
execution is RQ's own sign (the one its rate limiter checks before freeing a slot): written
by the worker before it forks the horse, beaten every few seconds while the horse runs, and
expired a couple of minutes after its worker died. Timing a start instead (how long since
the job was popped, or started) recovered jobs a live worker was starting: the sweeper freed
their slot for the next waiting job and killed their horse.

Recovering a rate-limited job releases its slot: the dead job's executions are removed with
it, so RQ's own release (which keeps the slot of a job with a live execution, a horse it
cannot tell from a dead one) frees it and admits the organization's next waiting job. Then
each rate-limit key's stale slots are released (`RateLimitRegistry.cleanup`, which RQ itself
runs only every few minutes), so no slot stays held by a job that is gone.

One sweeper at a time: every worker runs the sweep, and two re-queueing the same run would
enqueue it twice; a short Redis lock makes the others skip that round.

Notifications get the same net: an outbox row pending and due for longer than
`VALIDATEUR_STALL_SECONDS` lost its job (a killed worker, a Redis restart, Redis down at
the end of the run) and is given a new one (`notifications.requeue_due`).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from dataclasses import dataclass, field

from flask import current_app
from redis import Redis
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.rate_limit import RateLimitRegistry
from rq.utils import current_timestamp

from validateur import batches, notifications, queue, runs, storage
from validateur.errors import QUEUE_DOWN
from validateur.models import FailureCategory, RunStatus, ValidationRun

log = logging.getLogger(__name__)

#: Files older than this that no open run owns are removed.
ORPHAN_FILE_SECONDS = 3600
#: Statuses of a job that will run without help (each checked where it waits, `_waiting`).
PENDING = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED, JobStatus.RATE_LIMITED}
#: The sweep's lock: long enough for a sweep, short enough that a dead holder costs little.
SWEEP_LOCK_KEY = "validateur:maintenance:lock"
SWEEP_LOCK_SECONDS = 30
#: A queued job seen on no queue is remembered this long (the next sweep confirms it).
SUSPECT_KEY = "validateur:maintenance:orphan:{0}"
SUSPECT_SECONDS = 600
_RELEASE_LOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
GAVE_UP_MESSAGE = (
    "La validation a été interrompue plusieurs fois (worker arrêté ou perdu) ; "
    "téléversez le fichier à nouveau."
)
RESUMED_MESSAGE = "Traitement interrompu (worker arrêté ou perdu) ; reprise automatique."


@dataclass
class MaintenanceReport:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    orphan_files: int = 0
    purged_runs: int = 0
    purged_batches: int = 0
    notifications: list[int] = field(default_factory=list)


def _job_of(run: ValidationRun) -> Job | None:
    try:
        return Job.fetch(run.job_id or "", connection=queue.redis_manager().client)
    except NoSuchJobError:
        return None


def _on_its_queue(job: Job, connection: Redis) -> bool:
    """Whether the job id is in its queue's list (or a single-queue worker's intermediate
    list, which RQ's own cleanup watches)."""
    origin = Queue(job.origin, connection=connection)
    return any(connection.lpos(key, job.id) is not None
               for key in (origin.key, origin.intermediate_queue_key))


def _in_a_live_workers_hands(job: Job, connection: Redis) -> bool:
    """Whether the job has an unexpired RQ execution: a live worker popped it and runs it
    (RQ's own test in `RELEASE_STALE_AND_ENQUEUE_SCRIPT`, where an execution's score is its
    expiry)."""
    return bool(connection.zcount(job.execution_registry.key, f"({current_timestamp()}", "+inf"))


def _starting(run: ValidationRun, job: Job, connection: Redis) -> bool:
    """A queued run whose job a live worker popped or started: the run's own first write
    (`runs.start_attempt`) is on its way, and the run's heartbeat is only as old as its wait.

    (A processing run's stale heartbeat under a live execution is a stuck horse: stopped.)
    """
    return run.status == RunStatus.QUEUED and _in_a_live_workers_hands(job, connection)


def _waiting(job: Job, connection: Redis) -> bool:
    """Whether the job will run without help: see the module's doc."""
    status = job.get_status()
    if status not in PENDING:
        return False
    if status == JobStatus.RATE_LIMITED and job.has_rate_limit:
        registry = RateLimitRegistry.from_job(job)
        return connection.zscore(registry.rate_limited_key, job.id) is not None
    if status != JobStatus.QUEUED or _on_its_queue(job, connection):
        return True
    if _in_a_live_workers_hands(job, connection):
        return True  # popped by a live worker, which forks its horse
    # Queued on no queue: an orphan if the previous sweep saw it so too, with the same
    # enqueue time (a job re-queued since is a new case).
    key = SUSPECT_KEY.format(job.id)
    seen = str(job.enqueued_at)
    if connection.get(key) == seen.encode():
        connection.delete(key)
        return False
    connection.set(key, seen, ex=SUSPECT_SECONDS)
    return True


def _drop_job(job: Job, connection: Redis) -> None:
    """Delete a lost job and free its slot: its executions go first, so that RQ's release
    (run by `delete` for a rate-limited job) sees no live one and frees the slot."""
    if job.get_status() == JobStatus.STARTED:
        with contextlib.suppress(InvalidJobOperation):  # no worker named on it: no horse
            send_stop_job_command(connection, job.id)  # a stuck horse, if any
    if job.has_rate_limit:
        with connection.pipeline() as pipe:
            job.execution_registry.delete(job=job, pipeline=pipe)
            pipe.execute()
    job.delete()


def _forget_job_id(run: ValidationRun, connection: Redis) -> None:
    """A job Redis lost may have left its id behind (on a list, holding a slot): remove it,
    so the new job of the same id is queued once and holds one slot."""
    job_id = run.job_id or queue.job_id_for(run.id)
    with connection.pipeline() as pipe:
        for listed in queue.get_queues(connection):
            pipe.lrem(listed.key, 0, job_id)
        if run.organization_id is not None:
            registry = RateLimitRegistry(queue.rate_limit_key(run.organization_id), connection)
            pipe.zrem(registry.allowed_key, job_id)
            pipe.zrem(registry.rate_limited_key, job_id)
        pipe.execute()


def _recover(run: ValidationRun, report: MaintenanceReport) -> None:
    """Give a stalled run a new job, or fail it once its attempts are spent."""
    connection = queue.redis_manager().client
    job = _job_of(run)
    if job is not None and (_waiting(job, connection) or _starting(run, job, connection)):
        return  # waiting for a worker, a slot or its retry time, or starting: not stalled
    if job is not None:
        _drop_job(job, connection)
    else:
        _forget_job_id(run, connection)
    if run.attempts >= 1 + len(current_app.config["VALIDATEUR_RETRY_SECONDS"]):
        # A lost horse may have committed its rows before dying: the failed run drops them.
        gave_up = runs.Failed(GAVE_UP_MESSAGE, FailureCategory.INTERRUPTED, discards_rows=True)
        if runs.finish(run.id, gave_up, source="maintenance",
                       line="Abandon après plusieurs interruptions", attempt=run.attempts):
            report.failed.append(run.id)
        return
    if runs.requeue(run.id, RESUMED_MESSAGE, source="maintenance",
                    line="Tâche perdue : remise en file", attempt=run.attempts,
                    jobId=run.job_id):
        queue.enqueue_validation(run.id)  # if Redis fails here, the next sweep tries again
        report.requeued.append(run.id)


def recover_stalled_runs(report: MaintenanceReport) -> None:
    stale_after = current_app.config["VALIDATEUR_STALL_SECONDS"]
    for run in runs.stalled_runs(stale_after):
        try:
            _recover(run, report)
        except QUEUE_DOWN as exc:
            log.warning("maintenance: Redis unavailable for run %s (%s)", run.id,
                        type(exc).__name__)
            return


def requeue_due_notifications(report: MaintenanceReport) -> None:
    try:
        report.notifications += notifications.requeue_due(
            current_app.config["VALIDATEUR_STALL_SECONDS"])
    except QUEUE_DOWN as exc:
        log.warning("maintenance: Redis unavailable for notifications (%s)",
                    type(exc).__name__)


def remove_orphan_files(report: MaintenanceReport) -> None:
    for path in storage.orphan_files(runs.live_stored_names(), ORPHAN_FILE_SECONDS):
        path.unlink(missing_ok=True)
        report.orphan_files += 1


def purge_expired_runs(report: MaintenanceReport) -> None:
    for run_id in runs.expired_runs(current_app.config["VALIDATEUR_RETENTION_DAYS"]):
        runs.delete_run(run_id)
        report.purged_runs += 1
    notifications.purge_older_than(current_app.config["VALIDATEUR_RETENTION_DAYS"])
    purge_empty_batches(report)


def purge_empty_batches(report: MaintenanceReport) -> None:
    """Batches whose runs are all gone (purged above, or deleted one by one) go as well."""
    report.purged_batches += batches.delete_empty()


def release_stale_slots() -> None:
    """Free every rate-limit slot held by a job that no longer holds one (gone, final,
    scheduled), admit waiting jobs into free slots, drop empty keys: RQ's own cleanup."""
    try:
        for registry in RateLimitRegistry.all(queue.redis_manager().client):
            registry.cleanup()
    except QUEUE_DOWN as exc:
        log.warning("maintenance: rate-limit cleanup skipped (%s)", type(exc).__name__)


def _take_lock() -> str | None:
    """The sweep's lock token, or None when another sweeper holds it (or Redis is down:
    then the database-only parts still run)."""
    token = secrets.token_hex(8)
    try:
        taken = queue.redis_manager().client.set(SWEEP_LOCK_KEY, token, nx=True,
                                                 ex=SWEEP_LOCK_SECONDS)
    except QUEUE_DOWN:
        return ""
    return token if taken else None


def _release_lock(token: str) -> None:
    if token:
        with contextlib.suppress(*QUEUE_DOWN):  # else it expires by itself
            queue.redis_manager().client.eval(_RELEASE_LOCK, 1, SWEEP_LOCK_KEY, token)


def run_maintenance() -> MaintenanceReport:
    """Everything, in order; each part logs what it did. Skipped while another sweeper
    holds the lock."""
    report = MaintenanceReport()
    token = _take_lock()
    if token is None:
        return report
    try:
        _sweep(report)
    finally:
        _release_lock(token)
    return report


def _sweep(report: MaintenanceReport) -> None:
    recover_stalled_runs(report)
    requeue_due_notifications(report)
    release_stale_slots()
    remove_orphan_files(report)
    purge_expired_runs(report)
    if (report.requeued or report.failed or report.orphan_files or report.purged_runs
            or report.notifications):
        log.info("maintenance: requeued %s, failed %s, orphan files %s, purged runs %s, "
                 "notifications re-enqueued %s", report.requeued, report.failed,
                 report.orphan_files, report.purged_runs, report.notifications)
