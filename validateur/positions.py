"""A queued run's place in line: how many runs will start before it, plus one.

Workers take `<queue>-priority` before `<queue>` and each list in order; a job of an
organization at its cap (RQ `RateLimit`) is on no list at all: it waits in its key's waiting
set and is pushed at the end of its queue when one of its organization's slots frees. So the
line is read from both places, in one pass:

1. the runs whose job is on a queue, in the order workers will pop them (the priority list,
   then the standard one: `LRANGE`, our `validation-<id>` ids only);
2. then the other queued runs (waiting for a slot, a retry, or an enqueue in progress), by
   queue (priority first), then by *round*: an organization's k-th waiting run needs k of its
   slots to free, so every organization's first waiting run comes before anyone's second
   (which is what RQ's admission does when slots free at a similar pace), then by submit time.
   An organization's runs beyond its free slots are counted from PostgreSQL: cap
   (`max_parallel`) minus its processing runs minus its runs already on a queue.

Position = 1 + the number of queued runs ahead in that order. While nobody submits, a run's
position never goes up (runs ahead only start or move from waiting to a list ahead of it);
a run on a list at its head is 1 and is the next one a worker takes. A later priority run,
or another organization's run admitted ahead of a waiting one, does move it back: that is
the line changing, not the count being wrong.

Redis down: the lists are unknown and every queued run is placed by step 2 alone.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from validateur import queue
from validateur.errors import QUEUE_DOWN
from validateur.extensions import db
from validateur.models import Organization, RunStatus, ValidationRun

log = logging.getLogger(__name__)
#: A run without an organization has no cap.
UNCAPPED = 10**9


@dataclass(frozen=True)
class _Queued:
    run_id: int
    organization_id: int | None
    priority: bool
    created_at: datetime
    cap: int


def listed_run_ids() -> list[int]:
    """Runs whose job is on a queue, in the order workers will take them (priority first)."""
    connection = queue.redis_manager().client
    with connection.pipeline(transaction=False) as pipe:
        for queued in queue.get_queues(connection):
            pipe.lrange(queued.key, 0, -1)
        lists = pipe.execute()
    found = (queue.run_id_of_job(job_id) for job_ids in lists for job_id in job_ids)
    return [run_id for run_id in found if run_id is not None]


def _queued_runs() -> tuple[list[_Queued], dict[int | None, int]]:
    """Every queued run with its organization's cap, and processing runs per organization."""
    rows = db.session.execute(
        select(ValidationRun.id, ValidationRun.status, ValidationRun.organization_id,
               ValidationRun.queue, ValidationRun.created_at, Organization.max_parallel)
        .outerjoin(Organization, Organization.id == ValidationRun.organization_id)
        .where(ValidationRun.status.in_((RunStatus.QUEUED, RunStatus.PROCESSING)))
    ).all()
    queued: list[_Queued] = []
    processing: dict[int | None, int] = defaultdict(int)
    for run_id, status, org_id, queue_name, created_at, cap in rows:
        if status == RunStatus.PROCESSING:
            processing[org_id] += 1
            continue
        priority = (queue_name or "").endswith(queue.PRIORITY_SUFFIX)
        queued.append(_Queued(run_id, org_id, priority, created_at,
                              UNCAPPED if org_id is None else int(cap or 1)))
    return queued, processing


def queue_positions() -> dict[int, int]:
    """The place in line of every queued run, by run id (see the module's doc)."""
    queued, processing = _queued_runs()
    if not queued:
        return {}
    try:
        listed = listed_run_ids()
    except QUEUE_DOWN as exc:
        log.warning("queue positions without Redis (%s)", type(exc).__name__)
        listed = []
    by_id = {run.run_id: run for run in queued}
    on_list = [run_id for run_id in dict.fromkeys(listed) if run_id in by_id]
    listed_per_org: dict[int | None, int] = defaultdict(int)
    for run_id in on_list:
        listed_per_org[by_id[run_id].organization_id] += 1
    in_line = set(on_list)
    waiting: dict[int | None, list[_Queued]] = defaultdict(list)
    for run in sorted(queued, key=lambda r: (r.created_at, r.run_id)):
        if run.run_id not in in_line:
            waiting[run.organization_id].append(run)
    rest: list[tuple[bool, int, datetime, int]] = []
    for org_id, runs in waiting.items():
        free = max(0, runs[0].cap - processing[org_id] - listed_per_org[org_id])
        for index, run in enumerate(runs):
            round_ = max(0, index + 1 - free)
            rest.append((not run.priority, round_, run.created_at, run.run_id))
    rest.sort()
    order = on_list + [run_id for *_, run_id in rest]
    return {run_id: place for place, run_id in enumerate(order, start=1)}


def position_of(run: ValidationRun) -> int | None:
    """A queued run's place in line; None for any other run."""
    if run.status != RunStatus.QUEUED:
        return None
    return queue_positions().get(run.id)
