"""RQ callbacks of the validation job: what a failure or a hand-back means for its run.

The failure callback runs in the work-horse after every failed attempt. It decides what RQ
does next: a transient failure with retries left puts the run back to `queued` (RQ
re-enqueues it with backoff); anything else (input errors are handled in the job, so this is
a bug or the last transient failure) fails the run now and stops RQ from retrying. RQ also
calls it for a job found abandoned (its worker died): that is transient. A work-horse killed
outright never gets here: the maintenance sweeper covers that.

The hand-back callback runs in the worker when a deploy's grace is over and the job went
back to the front of the queue (`jobs.worker`): the run goes back to `queued` too, without
spending a retry.

The run id is read by binding the job's arguments to `validate_run`'s signature: the
validation job says what its arguments mean, nothing here assumes their position.
"""

from __future__ import annotations

import inspect
import logging
from types import TracebackType
from typing import Any

from rq.exceptions import AbandonedJobError
from rq.job import Job

from jobs.context import job_context
from jobs.validation import validate_run
from validateur import runs
from validateur.errors import JobFailed
from validateur.models import FailureCategory
from validateur.queue import VALIDATE_JOB

log = logging.getLogger(__name__)

FAILED_MESSAGE = (
    "La validation a échoué après plusieurs tentatives (erreur technique). "
    "Réessayez plus tard ; si le problème persiste, contactez le soutien."
)
RETRY_MESSAGE = "Erreur technique passagère ; nouvelle tentative programmée."
HANDED_BACK_MESSAGE = "Worker arrêté (déploiement) ; reprise sur un autre worker."
_VALIDATE_SIGNATURE = inspect.signature(validate_run)


def run_id_of(job: Job) -> int | None:
    """The run a validation job works on; None for any other job or unreadable arguments."""
    if job.func_name != VALIDATE_JOB:
        return None
    try:
        bound = _VALIDATE_SIGNATURE.bind(*job.args, **job.kwargs)
        return int(bound.arguments["run_id"])
    except (TypeError, ValueError, KeyError):
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
    with job_context():
        if transient and job.retries_left:
            runs.requeue(run_id, RETRY_MESSAGE, source="queue",
                         line="Nouvelle tentative programmée", jobId=job.id)
            return
        job.retries_left = 0
        runs.finish(run_id, runs.Failed(FAILED_MESSAGE, FailureCategory.TECHNICAL),
                    source="queue", line="Validation échouée", jobId=job.id)


def on_validation_handed_back(job: Job) -> None:
    """A deploy interrupted the attempt and the job is first in the queue again."""
    run_id = run_id_of(job)
    if run_id is None:
        return
    with job_context():
        runs.requeue(run_id, HANDED_BACK_MESSAGE, source="worker",
                     line="Worker arrêté : tâche remise en file", jobId=job.id)
