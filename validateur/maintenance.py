"""Maintenance: recover runs that lost their job, remove orphan files, purge old runs.

Runs from a thread of every `validateur worker` (every `VALIDATEUR_SWEEP_SECONDS`) and from
`validateur cleanup`. It is the safety net under RQ's own retry paths, covering what RQ
cannot see: a work-horse killed so hard that no callback ran, a whole machine lost, Redis
restarted and forgetting its jobs, a retry budget exhausted without the run being failed.
A run is stalled when it shows no heartbeat for `VALIDATEUR_STALL_SECONDS` (workers beat
twice a second while they work) and its RQ job is not waiting to run.

Notifications get the same net: an outbox row pending and due for longer than
`VALIDATEUR_STALL_SECONDS` lost its job (a killed worker, a Redis restart, Redis down at
the end of the run) and is given a new one (`notifications.requeue_due`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from flask import current_app
from rq.command import send_stop_job_command
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from validateur import notifications, queue, runs, storage
from validateur.errors import QUEUE_DOWN
from validateur.models import FailureCategory, ValidationRun

log = logging.getLogger(__name__)

#: Files older than this that no open run owns are removed.
ORPHAN_FILE_SECONDS = 3600
PENDING = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
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
    notifications: list[int] = field(default_factory=list)


def _job_of(run: ValidationRun) -> Job | None:
    try:
        return Job.fetch(run.job_id or "", connection=queue.redis_manager().client)
    except NoSuchJobError:
        return None


def _recover(run: ValidationRun, report: MaintenanceReport) -> None:
    """Give a stalled run a new job, or fail it once its attempts are spent."""
    job = _job_of(run)
    if job is not None and job.get_status() in PENDING:
        return  # waiting for a free worker or for its retry time: not stalled
    if job is not None and job.get_status() == JobStatus.STARTED:
        send_stop_job_command(queue.redis_manager().client, job.id)  # a stuck horse, if any
    if job is not None:
        job.delete()
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


def run_maintenance() -> MaintenanceReport:
    """Everything, in order; each part logs what it did."""
    report = MaintenanceReport()
    recover_stalled_runs(report)
    requeue_due_notifications(report)
    remove_orphan_files(report)
    purge_expired_runs(report)
    if (report.requeued or report.failed or report.orphan_files or report.purged_runs
            or report.notifications):
        log.info("maintenance: requeued %s, failed %s, orphan files %s, purged runs %s, "
                 "notifications re-enqueued %s", report.requeued, report.failed,
                 report.orphan_files, report.purged_runs, report.notifications)
    return report
