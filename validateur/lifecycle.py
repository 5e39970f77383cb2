"""User-initiated run operations (cancel, delete) that span the database, Redis and disk.

The status change goes first, through `runs` (so a racing worker sees it at its next
cooperative check and rolls its transaction back); Redis is then told, best effort: a queued
job is removed, a running one gets RQ's stop-job command. Redis being down never blocks a
cancel: the worker's own check and the maintenance sweeper finish the work.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from validateur import queue, runlog, runs, storage
from validateur.models import ValidationRun

log = logging.getLogger(__name__)


def _stop_job(job_id: str | None) -> None:
    if not job_id:
        return
    try:
        connection = queue.redis_manager().client
        job = Job.fetch(job_id, connection=connection)
        if job.get_status() == JobStatus.STARTED:
            send_stop_job_command(connection, job_id)
        else:
            job.cancel()
            job.delete()
    except (NoSuchJobError, InvalidJobOperation):
        pass
    except (RedisError, OSError, queue.QueueUnavailable) as exc:
        log.warning("could not reach Redis to stop %s: %s", job_id, type(exc).__name__)


def cancel_run(run: ValidationRun) -> bool:
    """Cancel a queued or running run; False when it is already final."""
    run_id, stored_name, job_id = run.id, run.stored_name, run.job_id
    if not runs.cancel(run_id):
        return False
    _stop_job(job_id)
    storage.delete(stored_name)
    runs.delete_run_data(run_id)
    runlog.record(run_id, "info", "web", "Validation annulée", jobId=job_id)
    return True


def delete_run(run: ValidationRun) -> None:
    """Remove a run with its rows, findings, logs and file; a live job is stopped first."""
    if runs.is_open(run):
        cancel_run(run)
    storage.delete(run.stored_name)
    runs.delete_run(run.id)
