"""What ops watch: `GET /metrics` (Prometheus text format) and the admin page's queue section.

Every number is read at scrape time, from where it lives, by one `snapshot()`: the queues'
lists and RQ's registries, the rate-limit keys (RQ 3.0 `RateLimit`: a job waiting for its
organization's slot is on no queue, so `Queue.count` misses it; the key's waiting set has
it), the worker registry, and PostgreSQL (runs by status, the oldest queued run, durations
and rows of finished runs). A `prometheus_client` custom collector turns it into metric
families, so nothing is kept between scrapes and every web process answers the same.
(`rq-exporter` pins `rq<3`.)

Cost: two pipelined Redis round trips and one SQL aggregate over `validation_runs`;
measured in `tests/web/test_metrics.py`.

Nothing here names a file or holds a cell value: the labels are queue names, statuses,
states and organization ids (names only on the admin page, for admins).

`/metrics` answers 404 while `VALIDATEUR_METRICS_TOKEN` is unset (the endpoint does not
exist), and 401 with `WWW-Authenticate: Bearer` for a missing or wrong token, so an operator
can tell a wrong token from a disabled endpoint. It touches no session: no cookie is read or
set, no user loaded, no CSRF.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from flask import Blueprint, Response, abort, current_app, request
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from rq import Worker
from rq.rate_limit import RateLimitRegistry
from sqlalchemy import and_, case, func, select

from validateur import queue
from validateur.errors import QUEUE_DOWN
from validateur.extensions import db
from validateur.models import Notification, Organization, RunStatus, ValidationRun, utcnow

#: Upper bounds of the duration histogram, in seconds (a small file to a 300 MB one).
DURATION_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
#: RQ registries counted per queue, besides the list itself.
REGISTRIES = ("started", "scheduled", "deferred", "failed")
#: Webhook delivery states (the contract's « Operations »), each always present.
WEBHOOK_STATES = ("pending", "delivered", "failed")
FINAL = tuple(status for status in RunStatus if status.is_final)
OPEN = (RunStatus.QUEUED, RunStatus.PROCESSING)

bp = Blueprint("metrics", __name__)


# -- the snapshot ---------------------------------------------------------------------------

@dataclass
class OrganizationLoad:
    """One organization's share of the line."""

    organization_id: int
    name: str = ""
    max_parallel: int = 0
    processing: int = 0
    queued: int = 0
    #: Jobs held back by the rate limit (the key's waiting set).
    waiting_for_slot: int = 0
    #: Slots the rate limit has handed out (queued on a list or running).
    slots_used: int = 0


@dataclass
class Snapshot:
    redis_up: bool = True
    queue_jobs: dict[str, int] = field(default_factory=dict)
    registry_jobs: dict[tuple[str, str], int] = field(default_factory=dict)
    workers: int = 0
    runs: dict[str, int] = field(default_factory=dict)
    oldest_queued_at: datetime | None = None
    rows_processed: int = 0
    durations: dict[str, tuple[list[int], float, int]] = field(default_factory=dict)
    organizations: dict[int, OrganizationLoad] = field(default_factory=dict)

    @property
    def oldest_queued_seconds(self) -> float:
        if self.oldest_queued_at is None:
            return 0.0
        return max(0.0, (utcnow() - self.oldest_queued_at).total_seconds())

    def organization(self, organization_id: int) -> OrganizationLoad:
        return self.organizations.setdefault(organization_id, OrganizationLoad(organization_id))


def _read_redis(found: Snapshot) -> None:
    """Queues, registries, workers and rate-limit keys in three pipelined round trips."""
    connection = queue.redis_manager().read_client  # a hung Redis costs half a second
    queues = queue.get_queues(connection)
    prefix = queue.rate_limit_key(0).removesuffix("0")
    with connection.pipeline(transaction=False) as pipe:
        for listed in queues:
            pipe.llen(listed.key)
            for name in REGISTRIES:
                pipe.zcard(getattr(listed, f"{name}_job_registry").key)
        pipe.scard(Worker.redis_workers_keys)
        pipe.smembers(RateLimitRegistry.rl_keys_key)
        answers = iter(pipe.execute())
    for listed in queues:
        found.queue_jobs[listed.name] = int(next(answers))
        for name in REGISTRIES:
            found.registry_jobs[(listed.name, name)] = int(next(answers))
    found.workers = int(next(answers))
    keys = sorted(k.decode() for k in next(answers) if k.decode().startswith(prefix))
    registries = [(int(key[len(prefix):]), RateLimitRegistry(key, connection)) for key in keys
                  if key[len(prefix):].isdigit()]
    with connection.pipeline(transaction=False) as pipe:
        for _, registry in registries:
            pipe.zcard(registry.rate_limited_key)
            pipe.zcard(registry.allowed_key)
        answers = iter(pipe.execute())
    for organization_id, _ in registries:
        load = found.organization(organization_id)
        load.waiting_for_slot, load.slots_used = int(next(answers)), int(next(answers))


def _read_database(found: Snapshot) -> None:
    """One aggregate over `validation_runs` (one round trip): per status, and per
    organization for open runs, the count, the oldest queued run, the rows and the duration
    buckets of finished runs, with each organization's name and cap."""
    seconds = func.extract("epoch", ValidationRun.finished_at - ValidationRun.started_at)
    timed = and_(ValidationRun.started_at.is_not(None), ValidationRun.finished_at.is_not(None),
                 ValidationRun.status.in_(FINAL))
    organization = case((ValidationRun.status.in_(OPEN), ValidationRun.organization_id))
    rows = db.session.execute(
        select(ValidationRun.status, organization, func.count(),
               func.min(ValidationRun.created_at),
               func.coalesce(func.sum(ValidationRun.total_rows), 0),
               func.count().filter(timed), func.coalesce(func.sum(seconds).filter(timed), 0),
               *[func.count().filter(and_(timed, seconds <= bound)) for bound in DURATION_BUCKETS],
               func.max(Organization.name), func.max(Organization.max_parallel))
        .outerjoin(Organization, Organization.id == organization)
        .group_by(ValidationRun.status, organization)
    ).all()
    found.runs = {status.value: 0 for status in RunStatus}
    for status, org_id, count, first_at, rows_total, timed_count, total, *rest in rows:
        *cumulative, name, cap = rest
        status = str(status)
        found.runs[status] += int(count)
        if status == RunStatus.COMPLETED:
            found.rows_processed += int(rows_total)
        if timed_count:
            found.durations[status] = ([int(c) for c in cumulative], float(total),
                                       int(timed_count))
        if status == RunStatus.QUEUED and (found.oldest_queued_at is None
                                           or first_at < found.oldest_queued_at):
            found.oldest_queued_at = first_at
        if org_id is not None:
            load = found.organization(int(org_id))
            load.name, load.max_parallel = name or "", int(cap or 0)
            if status == RunStatus.PROCESSING:
                load.processing = int(count)
            else:
                load.queued = int(count)


def oldest_queued_run() -> int | None:
    """The id of the run queued the longest (the admin page links it)."""
    found: int | None = db.session.execute(
        select(ValidationRun.id).where(ValidationRun.status == RunStatus.QUEUED)
        .order_by(ValidationRun.created_at, ValidationRun.id).limit(1)).scalar_one_or_none()
    return found


def snapshot() -> Snapshot:
    """Everything `/metrics` and the admin page show, read now (Redis down: its parts are 0
    and `redis_up` is False)."""
    found = Snapshot()
    try:
        _read_redis(found)
    except QUEUE_DOWN:
        found.redis_up = False
    _read_database(found)
    return found


# -- the collector ----------------------------------------------------------------------------

def _webhook_deliveries() -> dict[str, int]:
    """Outbox rows bound for a webhook endpoint, per state (one grouped query)."""
    rows = db.session.execute(
        select(Notification.state, func.count())
        .where(Notification.webhook_id.is_not(None))
        .group_by(Notification.state)
    ).all()
    return {str(state): int(count) for state, count in rows}


class ValidateurCollector:
    """A `prometheus_client` custom collector: one `snapshot()` per scrape."""

    def collect(self) -> Iterator[Metric]:
        found = snapshot()
        yield from _queue_families(found)
        yield from _run_families(found)
        yield from _organization_families(found)
        deliveries = GaugeMetricFamily("validateur_webhook_deliveries",
                                       "Webhook deliveries in the outbox, by state.",
                                       labels=["state"])
        counted = _webhook_deliveries()
        for state in WEBHOOK_STATES:
            deliveries.add_metric([state], counted.get(state, 0))
        yield deliveries


def _queue_families(found: Snapshot) -> Iterator[Metric]:
    up = GaugeMetricFamily("validateur_redis_up", "Whether Redis answered this scrape.")
    up.add_metric([], 1 if found.redis_up else 0)
    yield up
    jobs = GaugeMetricFamily("validateur_queue_jobs",
                             "Jobs on each queue, ready for a worker (not those waiting for "
                             "their organization's slot).", labels=["queue"])
    for name, count in found.queue_jobs.items():
        jobs.add_metric([name], count)
    yield jobs
    registries = GaugeMetricFamily("validateur_queue_registry_jobs",
                                   "Jobs in each RQ registry of each queue.",
                                   labels=["queue", "registry"])
    for (name, registry), count in found.registry_jobs.items():
        registries.add_metric([name, registry], count)
    yield registries
    workers = GaugeMetricFamily("validateur_workers", "RQ workers registered.")
    workers.add_metric([], found.workers)
    yield workers


def _run_families(found: Snapshot) -> Iterator[Metric]:
    runs = GaugeMetricFamily("validateur_runs", "Runs by status (retained ones).",
                             labels=["status"])
    for status, count in found.runs.items():
        runs.add_metric([status], count)
    yield runs
    oldest = GaugeMetricFamily("validateur_oldest_queued_run_seconds",
                               "Age of the oldest queued run (0 when none).")
    oldest.add_metric([], round(found.oldest_queued_seconds, 3))
    yield oldest
    durations = HistogramMetricFamily(
        "validateur_run_duration_seconds",
        "From start to end of finished runs (retained ones), by final status.",
        labels=["status"])
    for status, (cumulative, total, count) in sorted(found.durations.items()):
        buckets = [(str(bound), float(n)) for bound, n in
                   zip(DURATION_BUCKETS, cumulative, strict=True)]
        durations.add_metric([status], [*buckets, ("+Inf", float(count))], total)
    yield durations
    rows = CounterMetricFamily("validateur_rows_processed",
                               "Rows of completed runs (retained ones: the purge lowers it, "
                               "which Prometheus reads as a counter reset).")
    rows.add_metric([], found.rows_processed)
    yield rows


def _organization_families(found: Snapshot) -> Iterator[Metric]:
    families = {
        "processing": GaugeMetricFamily("validateur_organization_processing_runs",
                                        "Processing runs per organization.",
                                        labels=["organization"]),
        "waiting_for_slot": GaugeMetricFamily(
            "validateur_organization_waiting_jobs",
            "Jobs waiting for their organization's slot (rate limit), on no queue.",
            labels=["organization"]),
        "slots_used": GaugeMetricFamily("validateur_organization_slots_used",
                                        "Rate-limit slots held (queued on a list or running).",
                                        labels=["organization"]),
        "max_parallel": GaugeMetricFamily("validateur_organization_max_parallel",
                                          "The organization's cap.", labels=["organization"]),
    }
    for organization_id, load in sorted(found.organizations.items()):
        for attribute, family in families.items():
            family.add_metric([str(organization_id)], getattr(load, attribute))
    yield from families.values()


def exposition() -> bytes:
    """The text format of one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ValidateurCollector())
    return generate_latest(registry)


# -- the endpoint -----------------------------------------------------------------------------

def _authorized(expected: str) -> bool:
    given = request.headers.get("Authorization", "")
    scheme, _, token = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(),
                                                              expected.encode())


@bp.get("/metrics")
def metrics() -> Response:
    expected = current_app.config.get("VALIDATEUR_METRICS_TOKEN") or ""
    if not expected:
        abort(404)
    if not _authorized(expected):
        return Response("Jeton de métriques manquant ou invalide.\n", status=401,
                        mimetype="text/plain", headers={"WWW-Authenticate": "Bearer"})
    return Response(exposition(), mimetype=None, content_type=CONTENT_TYPE_PLAIN_0_0_4)
