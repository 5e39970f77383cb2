"""RQ callbacks. The failure callback runs in the work-horse after every failed attempt.

It decides what RQ does next: a transient failure with retries left puts the run back to
`queued` (RQ re-enqueues it with backoff); anything else (input errors are handled in the
job, so this is a bug or the last transient failure) fails the run now and stops RQ from
retrying. RQ also calls it for a job found abandoned (its worker died): that is transient.
A work-horse killed outright never gets here: the maintenance sweeper covers that.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any

from rq.exceptions import AbandonedJobError
from rq.job import Job

from jobs.context import worker_app
from validateur import runlog, runs, storage
from validateur.errors import JobFailed
from validateur.extensions import db
from validateur.models import FailureCategory, ValidationRun

log = logging.getLogger(__name__)

FAILED_MESSAGE = (
    "La validation a échoué après plusieurs tentatives (erreur technique). "
    "Réessayez plus tard ; si le problème persiste, contactez le soutien."
)
RETRY_MESSAGE = "Erreur technique passagère ; nouvelle tentative programmée."


def run_id_of(job: Job) -> int | None:
    try:
        return int(job.args[0])
    except (IndexError, TypeError, ValueError):
        return None


def on_validation_failure(job: Job, connection: Any, exc_type: type[BaseException] | None,
                          exc_value: BaseException | None,
                          traceback: TracebackType | None) -> None:
    run_id = run_id_of(job)
    if run_id is None:
        return
    transient = isinstance(exc_value, AbandonedJobError) or (
        isinstance(exc_value, JobFailed) and exc_value.transient
    )
    with worker_app().app_context():
        try:
            if transient and job.retries_left:
                runs.mark_requeued(run_id, RETRY_MESSAGE)
                runlog.record(run_id, "warning", "queue", "Nouvelle tentative programmée",
                              jobId=job.id)
                return
            job.retries_left = 0
            run = db.session.get(ValidationRun, run_id)
            stored_name = run.stored_name if run else None
            storage.delete(stored_name)  # a failed run owns no file
            if runs.fail(run_id, FAILED_MESSAGE, FailureCategory.TECHNICAL):
                runlog.record(run_id, "error", "queue", "Validation échouée", jobId=job.id)
        finally:
            db.session.remove()
