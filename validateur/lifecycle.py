"""User-initiated run operations (cancel, delete) that span the database, Redis and disk.

The status change goes first, through `runs.finish` (so a racing worker sees it at its next
cooperative check and rolls its transaction back); Redis is then told, best effort. Redis
being down never blocks a cancel: the worker's own check and the maintenance sweeper
finish the work.

In RQ a cancelled job is not a failure: it ends in RQ's `CanceledJobRegistry` with status
`canceled`, as rq-dashboard shows it, and the failed registry does not count it. RQ only
cancels jobs that are not running (`Job.cancel`); a running one is first left to end at its
next cooperative check (it then finishes normally), else stopped with RQ's stop-job command
(which RQ files as a `stopped` failure); once it has ended either way it is moved to the
cancelled registry. Cancelled job records expire like failed ones.
"""

from __future__ import annotations

import logging
import time

from redis import Redis
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import CanceledJobRegistry

from validateur import batches, queue, runs, storage
from validateur.config import DEFAULT_FAILURE_TTL_SECONDS
from validateur.errors import QUEUE_DOWN
from validateur.models import ValidationRun

log = logging.getLogger(__name__)
#: How long a running job gets to notice the cancel by itself before it is stopped.
COOPERATIVE_SECONDS = 3.0
#: How long RQ gets to stop a job before the sweeper is left to finish.
STOP_SECONDS = 5.0
ENDED = (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED)


def _wait_until_ended(job: Job, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if job.get_status(refresh=True) in ENDED:
            return True
        time.sleep(0.05)
    return False


def _file_as_cancelled(job: Job, connection: Redis) -> None:
    """Move an ended or waiting job to RQ's cancelled registry; it expires like a failure."""
    job.cancel()  # leaves the queue or the registry of its status, joins CanceledJobRegistry
    connection.expire(job.key, DEFAULT_FAILURE_TTL_SECONDS)
    registry = CanceledJobRegistry(job.origin, connection=connection)
    # RQ never trims this registry: drop what is older than a cancelled job's record.
    connection.zremrangebyscore(registry.key, 0, time.time() - DEFAULT_FAILURE_TTL_SECONDS)


def _stop_job(job_id: str | None) -> None:
    if not job_id:
        return
    try:
        connection = queue.redis_manager().client
        job = Job.fetch(job_id, connection=connection)
        if job.get_status() == JobStatus.STARTED and not _wait_until_ended(
                job, COOPERATIVE_SECONDS):
            send_stop_job_command(connection, job_id)
            if not _wait_until_ended(job, STOP_SECONDS):
                log.warning("job %s did not stop in time; the sweeper will finish", job_id)
                return
        _file_as_cancelled(job, connection)
    except (NoSuchJobError, InvalidJobOperation):
        pass
    except QUEUE_DOWN as exc:
        log.warning("could not reach Redis to stop %s: %s", job_id, type(exc).__name__)


def cancel_run(run: ValidationRun) -> bool:
    """Cancel a queued or running run; False when it is already final.

    `runs.finish` commits the status, the removal of the run's rows and findings and the log
    line together, then deletes the file (a job still reading it keeps its open handle until
    its next check sees the status); the job is stopped afterwards, best effort.
    """
    run_id, job_id = run.id, run.job_id
    if not runs.finish(run_id, runs.Cancelled(), source="web", line="Validation annulée",
                       jobId=job_id):
        return False
    _stop_job(job_id)
    return True


def delete_run(run: ValidationRun) -> None:
    """Remove a run with its rows, findings, logs and file; a live job is stopped first.
    The last run of a batch takes the batch with it (an empty batch has nothing to show)."""
    run_id, batch_id = run.id, run.batch_id
    if runs.is_open(run):
        cancel_run(run)
    storage.delete(run.stored_name)
    runs.delete_run(run_id)
    if batch_id is not None:
        batches.delete_empty([batch_id])


def delete_batch(batch_id: int) -> None:
    """Remove a batch with every run of it (each as `delete_run`: open ones cancelled first,
    the last one taking the batch)."""
    for run in batches.runs_of(batch_id):
        delete_run(run)
    batches.delete_empty([batch_id])  # a batch whose runs were already gone
