"""The worker probe: a second, trivial job type that owns no run and touches no database.

It writes a number to its job's meta (no PHI: a number the caller chose) after an optional
wait, which is enough to prove a worker takes, runs and hands back jobs of any kind, and
that nothing a worker or the sweeper does for validations touches runs on its behalf.
"""

from __future__ import annotations

import time

from rq import get_current_job
from rq.job import Job


def probe(number: int, seconds: float = 0.0) -> int:
    """Say the job started (`probeStarted`), wait `seconds`, then write `probe`: `number`."""
    job = get_current_job()
    if job is not None:
        job.meta["probeStarted"] = number
        job.save_meta()
    time.sleep(seconds)
    if job is not None:
        job.meta["probe"] = number
        job.save_meta()
    return number


def on_handed_back(job: Job) -> None:
    """A probe has no domain state to put back: the hand-back is only counted."""
    job.meta["handedBack"] = int(job.meta.get("handedBack", 0)) + 1
    job.save_meta()
