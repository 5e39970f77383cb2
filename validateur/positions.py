"""A queued run's place in line: how many runs will start before it, plus one.

Workers take `<queue>-priority` before `<queue>` and each list in order; a job of an
organization at its cap (RQ `RateLimit`) is on no list at all: it waits in its key's waiting
set and is pushed at the end of its queue when one of its organization's slots frees. So the
line is read from both places, in this order:

- priority runs before standard ones (a priority run waiting for its slot will be pushed on
  the priority list, ahead of every standard run);
- within a queue, first the runs a worker has already taken (their job is started, or popped
  and on no list) but whose first write has not landed: they start now;
- then the runs whose job is on its list, in the order workers will pop them (`LRANGE`, our
  `validation-<id>` ids only);
- then the other queued runs of that queue (waiting for a slot, a retry, or an enqueue in
  progress) by *round*: an organization's k-th waiting run needs k of its slots to free, so
  every organization's first waiting run comes before anyone's second (what RQ's admission
  does when slots free at a similar pace), then by submit time. Within an organization, the
  waiting runs are in the order RQ will admit them: its waiting set's, by whole-second
  score then job id (so two runs submitted in the same second are placed as RQ will take
  them, `validation-10` before `validation-9`), then those not in it (a retry waiting for
  its time) by submit time. An organization's runs
  beyond its free slots are counted from PostgreSQL: cap (`max_parallel`) minus its
  processing runs minus its runs already on a list.

Position = 1 + the number of queued runs ahead in that order. While nobody submits, a run's
position never goes up (runs ahead only start or move from waiting to a list ahead of it);
a run on a list at its head is 1 and is the next one a worker takes. A later priority run,
or another organization's run admitted ahead of a waiting one, does move it back: that is
the line changing, not the count being wrong.

Redis down or hung: the lists are unknown and every queued run is placed as waiting, from
PostgreSQL alone (Redis is asked on the read client, half a second at most, then left alone for
`REDIS_PAUSE_SECONDS`).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from rq.job import Job, JobStatus
from rq.rate_limit import RateLimitRegistry
from sqlalchemy import select

from validateur import queue
from validateur.errors import QUEUE_DOWN
from validateur.extensions import db
from validateur.models import Organization, RunStatus, ValidationRun

log = logging.getLogger(__name__)
#: After Redis failed to answer, places come from PostgreSQL alone this long (a hung Redis
#: costs one request `queue.READ_TIMEOUT_SECONDS`, not every request).
REDIS_PAUSE_SECONDS = 5.0
_redis_skipped_until = [0.0]
#: A run without an organization has no cap.
UNCAPPED = 10**9
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class _Queued:
    run_id: int
    organization_id: int | None
    priority: bool
    created_at: datetime
    cap: int


def _run_ids(job_ids: list[bytes]) -> list[int]:
    found = (queue.run_id_of_job(job_id) for job_id in job_ids)
    return [run_id for run_id in found if run_id is not None]


@dataclass
class _RedisView:
    """What Redis says about the line: the lists in pop order, each organization's waiting
    set in admission order, and the status of each queued run's job."""

    listed: list[int] = field(default_factory=list)
    admission: dict[int, list[int]] = field(default_factory=dict)
    job_status: dict[int, str] = field(default_factory=dict)


def _read_redis(queued: list[_Queued]) -> _RedisView:
    """One pipelined round trip: `LRANGE` of both lists, `ZRANGE` of each organization's
    waiting set (`ZPOPMIN` order: by whole-second score, then by job id), and `HGET status`
    of every queued run's job."""
    connection = queue.redis_manager().read_client
    organizations = sorted({r.organization_id for r in queued if r.organization_id is not None})
    with connection.pipeline(transaction=False) as pipe:
        for listed in queue.get_queues(connection):
            pipe.lrange(listed.key, 0, -1)
        for org_id in organizations:
            pipe.zrange(RateLimitRegistry(queue.rate_limit_key(org_id), connection)
                        .rate_limited_key, 0, -1)
        for run in queued:
            pipe.hget(Job.key_for(queue.job_id_for(run.run_id)), "status")
        answers = pipe.execute()
    lists = answers[:2]
    waiting = answers[2:2 + len(organizations)]
    statuses = answers[2 + len(organizations):]
    return _RedisView(
        listed=[run_id for job_ids in lists for run_id in _run_ids(job_ids)],
        admission={org_id: _run_ids(ids) for org_id, ids in
                   zip(organizations, waiting, strict=True)},
        job_status={run.run_id: status.decode() for run, status in
                    zip(queued, statuses, strict=True) if status},
    )


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
    view = _RedisView()
    if time.monotonic() >= _redis_skipped_until[0]:
        try:
            view = _read_redis(queued)
        except QUEUE_DOWN as exc:
            log.warning("queue positions without Redis (%s) for %s s", type(exc).__name__,
                        REDIS_PAUSE_SECONDS)
            _redis_skipped_until[0] = time.monotonic() + REDIS_PAUSE_SECONDS
    by_id = {run.run_id: run for run in queued}
    on_list = [run_id for run_id in dict.fromkeys(view.listed) if run_id in by_id]
    # Popped by a worker, not yet `processing` in the database: first of all.
    starting = [run.run_id for run in queued if run.run_id not in set(on_list) and (
        view.job_status.get(run.run_id) in (JobStatus.STARTED, JobStatus.QUEUED))]
    holding: dict[int | None, int] = defaultdict(int)  # slots taken, per organization
    for run_id in on_list + starting:
        holding[by_id[run_id].organization_id] += 1
    placed = set(on_list) | set(starting)
    waiting: dict[int | None, list[_Queued]] = defaultdict(list)
    for run in sorted(queued, key=lambda r: (r.created_at, r.run_id)):
        if run.run_id not in placed:
            waiting[run.organization_id].append(run)
    line: list[tuple[bool, int, int, datetime, int]] = [
        (not by_id[run_id].priority, 0, 0, by_id[run_id].created_at, run_id)
        for run_id in starting]
    line += [(not by_id[run_id].priority, 1, index, _EPOCH, run_id)
             for index, run_id in enumerate(on_list)]
    for org_id, runs in waiting.items():
        if org_id is not None and view.admission.get(org_id):
            rank = {run_id: index for index, run_id in enumerate(view.admission[org_id])}
            runs.sort(key=lambda r: rank.get(r.run_id, len(rank)))  # stable: then by submit
        free = max(0, runs[0].cap - processing[org_id] - holding[org_id])
        for index, run in enumerate(runs):
            line.append((not run.priority, 2, max(0, index + 1 - free), run.created_at,
                         run.run_id))
    line.sort()
    return {place[-1]: number for number, place in enumerate(line, start=1)}


def position_of(run: ValidationRun) -> int | None:
    """A queued run's place in line; None for any other run."""
    if run.status != RunStatus.QUEUED:
        return None
    return queue_positions().get(run.id)
