"""Redis connection manager and enqueueing of jobs (validations, worker probes).

The web only ever puts a run id in Redis: the job is referenced by its dotted name (the web
never imports `jobs`), with every RQ option explicit (`_enqueue`). Three clients, for three budgets:

- the general client (rq-dashboard, cancel, maintenance): short connect and socket timeouts,
  and retries with exponential backoff so a Redis restart is absorbed without a restart;
- the health client: one try, `HEALTH_TIMEOUT_SECONDS` per connect and per answer;
- the read client (places in line, metrics, the admin page): one try, `READ_TIMEOUT_SECONDS`
  per connect and per answer, so a page that shows what Redis knows still answers at once
  while Redis hangs (it shows what PostgreSQL knows);
- the enqueue client: the whole enqueue (connect, handshake, RQ's nine answers) shares one
  deadline, `VALIDATEUR_ENQUEUE_TIMEOUT_SECONDS`, so a hung Redis (it accepts connections but
  answers nothing) costs an upload that long, not timeout × retries × commands. It retries
  only a dropped connection (a Redis restart), within the same deadline.

Workers keep their own connections (`jobs.worker`): they reconnect by themselves.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import logging
import re
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from redis import Connection, Redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry as RedisRetry
from rq import Callback, Queue, RateLimit, Retry
from rq.job import Job
from rq.rate_limit import RateLimitRegistry

from validateur.config import (
    DEFAULT_ENQUEUE_TIMEOUT_SECONDS,
    DEFAULT_FAILURE_TTL_SECONDS,
    DEFAULT_REDIS_CONNECT_TIMEOUT_SECONDS,
    DEFAULT_REDIS_SOCKET_TIMEOUT_SECONDS,
    DEFAULT_RESULT_TTL_SECONDS,
    HEALTH_TIMEOUT_SECONDS,
)
from validateur.errors import QUEUE_DOWN, REDIS_DOWN, QueueNotConfigured, QueueUnavailable

log = logging.getLogger(__name__)

EXTENSION_KEY = "validateur.redis"
VALIDATE_JOB = "jobs.validation.validate_run"
ON_FAILURE = "jobs.callbacks.on_validation_failure"
ON_HANDED_BACK = "jobs.callbacks.on_validation_handed_back"
PROBE_JOB = "jobs.probe.probe"
ON_PROBE_HANDED_BACK = "jobs.probe.on_handed_back"
#: The job.meta key naming the job's hand-back callback (see `_enqueue`).
HANDED_BACK_META = "onHandedBack"
NOTIFY_JOB = "jobs.notify.deliver"
#: One delivery: a webhook POST (3 s to connect, 10 s to answer) or one SMTP session.
NOTIFY_TIMEOUT_SECONDS = 60
NOTIFY_TTL_SECONDS = 3600
PROBE_TIMEOUT_SECONDS = 60
PROBE_TTL_SECONDS = 600

#: Reads that only add to a page (places in line, metrics) wait this long per answer, once.
READ_TIMEOUT_SECONDS = 0.5
#: `validateur check-redis` waits this long per answer, once.
CHECK_TIMEOUT_SECONDS = 3.0

_PASSWORD_IN_URL = re.compile(r"(?P<scheme>[a-z+]+://)(?P<user>[^:@/]*):(?P<pw>[^@/]+)@")


#: The monotonic time by which the current enqueue must be done (None: no deadline).
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "validateur_redis_deadline", default=None
)


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every Redis answer read by a `DeadlineConnection` in the block shares `seconds`."""
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _remaining() -> float | None:
    end = _DEADLINE.get()
    if end is None:
        return None
    remaining = end - time.monotonic()
    if remaining <= 0:
        raise RedisTimeoutError("Redis deadline expired")
    return remaining


class DeadlineConnection(Connection):
    """A redis-py connection whose connect and reads stop at the block's `deadline`."""

    def _connect(self) -> Any:
        remaining = _remaining()
        if remaining is None:
            return super()._connect()
        configured = self.socket_connect_timeout
        self.socket_connect_timeout = min(configured or remaining, remaining)
        try:
            return super()._connect()
        finally:
            self.socket_connect_timeout = configured

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        remaining = _remaining()
        if remaining is not None and "timeout" not in kwargs:
            kwargs["timeout"] = min(self.socket_timeout or remaining, remaining)
        return super().read_response(*args, **kwargs)


def mask_url(url: str) -> str:
    """Hide the password of a URL for logs: `redis://:pw@h:6379/0` → `redis://:***@h:6379/0`."""
    return _PASSWORD_IN_URL.sub(lambda m: f"{m['scheme']}{m['user']}:***@", url)


def job_id_for(run_id: int) -> str:
    return f"validation-{run_id}"


def run_id_of_job(job_id: str | bytes) -> int | None:
    """The run of a `validation-<id>` job id; None for any other job."""
    text = job_id.decode() if isinstance(job_id, bytes) else job_id
    prefix, _, number = text.rpartition("-")
    return int(number) if prefix == "validation" and number.isdigit() else None


# -- queues and concurrency caps ------------------------------------------------------------
#: The suffix of the queue a `priority` organization's runs go to, before the base queue.
PRIORITY_SUFFIX = "-priority"


def queue_names(base: str | None = None) -> list[str]:
    """The queues a worker listens to by default, in the order it takes them: priority work
    first, then the rest (`rq worker` takes its queues in strict order; no weights)."""
    base = base or current_app.config["VALIDATEUR_QUEUE"]
    return [base + PRIORITY_SUFFIX, base]


def queue_for_plan(plan: str, base: str | None = None) -> str:
    """The queue of an organization's runs: `<queue>-priority` for a `priority` plan."""
    priority, standard = queue_names(base)
    return priority if plan == "priority" else standard


def rate_limit_key(organization_id: int, base: str | None = None) -> str:
    """The RQ rate-limit key of an organization's validation jobs.

    Prefixed by the base queue name: RQ's rate-limit keys are global to a Redis database, so
    two deployments sharing one would otherwise share their organizations' slots.
    """
    return f"{base or current_app.config['VALIDATEUR_QUEUE']}:org-{organization_id}"


def rate_limit_for(organization_id: int | None, max_parallel: int) -> RateLimit | None:
    """At most `max_parallel` of the organization's jobs admitted at once; none for a run
    without an organization (an operator's own, from the command line)."""
    if organization_id is None:
        return None
    return RateLimit(rate_limit_key(organization_id), max(1, max_parallel))


def apply_max_parallel(organization_id: int, max_parallel: int) -> list[str]:
    """Make a new cap hold for the organization's jobs that already exist, at once.

    RQ keeps the concurrency of a key in two places: the key's config (read when a slot is
    released) and each job (passed again when the scheduler re-admits a retry, which writes it
    back to the config). So every producer must pass the same value: the cap is written on
    each of the organization's existing jobs (its open runs'), then on the
    key, then free slots are filled from its waiting jobs (a raised cap admits them now; a
    lowered one lets running jobs finish and admits no more until below it). Returns the
    job ids admitted. Best effort: a Redis outage is logged, and the next enqueue or release
    of the organization writes the new cap anyway.
    """
    from sqlalchemy import select

    from validateur.extensions import db
    from validateur.models import RunStatus, ValidationRun

    job_ids = [job_id for job_id in db.session.execute(
        select(ValidationRun.job_id).where(
            ValidationRun.organization_id == organization_id,
            ValidationRun.status.in_((RunStatus.QUEUED, RunStatus.PROCESSING)))).scalars()
        if job_id]
    try:
        connection = redis_manager().client
        registry = RateLimitRegistry(rate_limit_key(organization_id), connection)
        with connection.pipeline() as pipe:
            for job_id in job_ids:
                pipe.exists(Job.key_for(job_id))
            present = pipe.execute()
        with connection.pipeline() as pipe:
            for job_id, exists in zip(job_ids, present, strict=True):
                if exists:
                    pipe.hset(Job.key_for(job_id), "rate_limit_concurrency", max_parallel)
            registry.register(max_parallel, pipe)
            pipe.execute()
        return registry.acquire_and_enqueue(max_parallel)
    except QUEUE_DOWN as exc:
        log.warning("cap of organization %s not applied in Redis: %s", organization_id,
                    type(exc).__name__)
        return []


class RedisManager:
    """Owns the app's Redis clients (general, health, enqueue): lazy connect, close."""

    def __init__(self, url: str, enqueue_timeout: float = DEFAULT_ENQUEUE_TIMEOUT_SECONDS
                 ) -> None:
        self.url = url
        self.enqueue_timeout = enqueue_timeout
        self._client: Redis | None = None
        self._health_client: Redis | None = None
        self._enqueue_client: Redis | None = None
        self._read_client: Redis | None = None

    def _check_url(self) -> None:
        if not self.url:
            raise QueueNotConfigured("REDIS_URL is not set")

    @property
    def client(self) -> Redis:
        if self._client is None:
            self._check_url()
            self._client = Redis.from_url(
                self.url,
                socket_connect_timeout=DEFAULT_REDIS_CONNECT_TIMEOUT_SECONDS,
                socket_timeout=DEFAULT_REDIS_SOCKET_TIMEOUT_SECONDS,
                retry=RedisRetry(ExponentialBackoff(cap=2.0, base=0.1), 2),
                retry_on_error=[RedisConnectionError, RedisTimeoutError],
                health_check_interval=30,
            )
            log.info("redis client for %s", mask_url(self.url))
        return self._client

    @property
    def health_client(self) -> Redis:
        """One try, `HEALTH_TIMEOUT_SECONDS` to connect and to answer."""
        if self._health_client is None:
            self._check_url()
            self._health_client = Redis.from_url(
                self.url,
                socket_connect_timeout=HEALTH_TIMEOUT_SECONDS,
                socket_timeout=HEALTH_TIMEOUT_SECONDS,
                retry=RedisRetry(NoBackoff(), 0),
            )
        return self._health_client

    @property
    def read_client(self) -> Redis:
        """One try, `READ_TIMEOUT_SECONDS` to connect and to answer."""
        if self._read_client is None:
            self._check_url()
            self._read_client = Redis.from_url(
                self.url,
                socket_connect_timeout=READ_TIMEOUT_SECONDS,
                socket_timeout=READ_TIMEOUT_SECONDS,
                retry=RedisRetry(NoBackoff(), 0),
            )
        return self._read_client

    @property
    def enqueue_client(self) -> Redis:
        """Reads bounded by `deadline`; a dropped connection is retried once, in it."""
        if self._enqueue_client is None:
            self._check_url()
            self._enqueue_client = Redis.from_url(
                self.url,
                connection_class=DeadlineConnection,
                socket_connect_timeout=self.enqueue_timeout,
                socket_timeout=self.enqueue_timeout,
                retry=RedisRetry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
                health_check_interval=30,
            )
        return self._enqueue_client

    def ping(self) -> bool:
        """Health: one PING on the health client (at most `HEALTH_TIMEOUT_SECONDS` or so)."""
        try:
            return bool(self.health_client.ping())
        except QUEUE_DOWN:
            return False

    def server_info(self) -> dict[str, Any]:
        info: dict[str, Any] = self.client.info("server")
        return info

    def close(self) -> None:
        for client in (self._client, self._health_client, self._enqueue_client,
                       self._read_client):
            if client is not None:
                client.close()
        self._client = self._health_client = self._enqueue_client = self._read_client = None


def init_app(app: Flask) -> None:
    manager = RedisManager(app.config["REDIS_URL"],
                           app.config.get("VALIDATEUR_ENQUEUE_TIMEOUT_SECONDS",
                                          DEFAULT_ENQUEUE_TIMEOUT_SECONDS))
    app.extensions[EXTENSION_KEY] = manager
    atexit.register(manager.close)  # close the pool's sockets when the process shuts down


def redis_manager() -> RedisManager:
    manager: RedisManager = current_app.extensions[EXTENSION_KEY]
    return manager


def get_queue(connection: Redis | None = None, name: str | None = None) -> Queue:
    """A queue by name (default: the base queue, `VALIDATEUR_QUEUE`)."""
    return Queue(name or current_app.config["VALIDATEUR_QUEUE"],
                 connection=connection or redis_manager().client)


def get_queues(connection: Redis | None = None) -> list[Queue]:
    """Both queues, priority first."""
    return [get_queue(connection, name) for name in queue_names()]


def enqueue_validation(run_id: int) -> Job:
    """Enqueue `validation-<run id>` with the run id as its only argument, within the
    enqueue deadline, on the run's queue (chosen at submit from its organization's plan, kept
    for every later attempt) and with its organization's concurrency cap as it is now (an
    RQ `RateLimit` keyed by the organization): RQ retries it with the configured backoff,
    its failure callback decides what a failure means for the run, and its hand-back
    callback what a deploy's hand-back does. The sweeper re-enqueues a lost run through here
    too, so a run keeps its queue and its cap whoever enqueues it.

    Raises `QueueNotConfigured` without REDIS_URL, `QueueUnavailable` when Redis cannot take
    the job in time. (A job whose answer was lost to the deadline may still be in Redis; its
    run is then deleted by the caller, and a job without its run does nothing.)
    """
    intervals = current_app.config["VALIDATEUR_RETRY_SECONDS"]
    queue_name, organization_id, max_parallel = _placement_of(run_id)
    return _enqueue(
        VALIDATE_JOB,
        args=(run_id,),
        job_id=job_id_for(run_id),
        queue_name=queue_name,
        rate_limit=rate_limit_for(organization_id, max_parallel),
        description=f"validation run {run_id}",
        timeout=current_app.config["VALIDATEUR_JOB_TIMEOUT"],
        result_ttl=DEFAULT_RESULT_TTL_SECONDS,
        failure_ttl=DEFAULT_FAILURE_TTL_SECONDS,
        retry=Retry(max=len(intervals), interval=intervals),
        on_failure=ON_FAILURE,
        on_handed_back=ON_HANDED_BACK,
    )


def enqueue_probe(number: int, seconds: float = 0.0) -> Job:
    """Enqueue a worker probe (`jobs.probe`): it writes `number` to its job's meta.

    No run, no retry, no failure callback: a job type that owns nothing in the database.
    """
    return _enqueue(
        PROBE_JOB,
        args=(number, seconds),
        job_id=None,
        description="worker probe",
        timeout=PROBE_TIMEOUT_SECONDS + int(seconds),
        result_ttl=PROBE_TTL_SECONDS,
        failure_ttl=PROBE_TTL_SECONDS,
        retry=None,
        on_failure=None,
        on_handed_back=ON_PROBE_HANDED_BACK,
        queue_name=None,
        rate_limit=None,
    )


def enqueue_notification(notification_id: int, at: datetime | None = None) -> Job:
    """Enqueue the delivery of one outbox row on the notifications queue (now, or at `at`
    through RQ's scheduler for a retry).

    No RQ retry and no callbacks: the row itself says what is due (`notifications.deliver`
    schedules the next attempt), and the sweeper re-enqueues a row whose job was lost. A job
    run twice finds the row taken or delivered and does nothing.
    """
    return _enqueue(
        NOTIFY_JOB,
        args=(notification_id,),
        job_id=None,
        description=f"notification {notification_id}",
        timeout=NOTIFY_TIMEOUT_SECONDS,
        result_ttl=NOTIFY_TTL_SECONDS,
        failure_ttl=NOTIFY_TTL_SECONDS,
        retry=None,
        on_failure=None,
        on_handed_back=None,
        queue_name=current_app.config["VALIDATEUR_NOTIFICATIONS_QUEUE"],
        at=at,
    )


def _placement_of(run_id: int) -> tuple[str, int | None, int]:
    """The run's queue, organization and that organization's cap, in one query.

    A run stored without a queue (submitted before queues existed) goes to the base queue.
    """
    from sqlalchemy import select

    from validateur.extensions import db
    from validateur.models import DEFAULT_MAX_PARALLEL, Organization, ValidationRun

    row = db.session.execute(
        select(ValidationRun.queue, ValidationRun.organization_id, Organization.max_parallel)
        .outerjoin(Organization, Organization.id == ValidationRun.organization_id)
        .where(ValidationRun.id == run_id)
    ).one_or_none()
    if row is None:  # the run is gone: its job will find nothing to do
        return current_app.config["VALIDATEUR_QUEUE"], None, DEFAULT_MAX_PARALLEL
    queue_name, organization_id, max_parallel = row
    return (queue_name or current_app.config["VALIDATEUR_QUEUE"], organization_id,
            max_parallel or DEFAULT_MAX_PARALLEL)


def _enqueue(func: str, *, args: tuple[Any, ...], job_id: str | None, description: str,
             timeout: int, result_ttl: int, failure_ttl: int, retry: Retry | None,
             on_failure: str | None, on_handed_back: str | None,
             queue_name: str | None = None, rate_limit: RateLimit | None = None,
             at: datetime | None = None) -> Job:
    """Enqueue `func` (a dotted name: the web never imports `jobs`) with every RQ option
    given by the caller, within the enqueue deadline.

    `on_handed_back` is the dotted name of the function the worker calls, with the job, when
    it hands the job back to the queue after a deploy's grace (`jobs.worker`): what that
    means for the job's domain is the job's module's business. Only numbers and dotted
    names go to Redis here: no PHI.

    `queue_name` is the queue (default: the base queue); `rate_limit` admits the job only
    while fewer than its concurrency of jobs with its key are queued or running (RQ 3.0's
    `RateLimit`: until then the job waits on no queue, in the key's waiting set); `at`
    schedules the job (RQ's scheduler, run by the workers, enqueues it then; no rate limit).
    """
    manager = redis_manager()
    meta = {HANDED_BACK_META: on_handed_back} if on_handed_back else {}
    try:
        with deadline(manager.enqueue_timeout):
            target = get_queue(manager.enqueue_client, queue_name)
            if at is not None:
                job = target.create_job(func, args=args, job_id=job_id,
                                        description=description, timeout=timeout,
                                        result_ttl=result_ttl, failure_ttl=failure_ttl,
                                        retry=retry, meta=meta)
                return target.schedule_job(job, at)
            return target.enqueue_call(
                func,
                args=args,
                job_id=job_id,
                description=description,
                timeout=timeout,
                result_ttl=result_ttl,
                failure_ttl=failure_ttl,
                retry=retry,
                on_failure=Callback(on_failure) if on_failure else None,
                meta=meta,
                rate_limit=rate_limit,
            )
    except REDIS_DOWN as exc:
        log.warning("enqueue of %s failed: %s", job_id or func, type(exc).__name__)
        raise QueueUnavailable("file d'attente indisponible") from None


def check_redis(url: str) -> tuple[bool, list[str]]:
    """PING, a SET/GET round trip and the server version, as lines for the operator."""
    if not url:
        return False, ["REDIS_URL n'est pas définie."]
    lines = [f"Redis : {mask_url(url)}"]
    # One try with a few seconds per answer: a hung server is reported, not waited out.
    client = Redis.from_url(url, socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
                            socket_timeout=CHECK_TIMEOUT_SECONDS, retry=RedisRetry(NoBackoff(), 0))
    try:
        lines.append(f"PING : {'PONG' if client.ping() else 'sans réponse'}")
        key = "validateur:check-redis"
        client.set(key, "ok", ex=10)
        round_trip = client.get(key) == b"ok"
        client.delete(key)
        lines.append(f"SET/GET : {'réussi' if round_trip else 'ÉCHEC'}")
        version = client.info("server").get("redis_version", "?")
        lines.append(f"Version du serveur : {version}")
        return round_trip, lines
    except REDIS_DOWN as exc:
        lines.append(f"Redis injoignable ({type(exc).__name__}) : vérifiez REDIS_URL, que le "
                     "serveur tourne et que le mot de passe est correct.")
        return False, lines
    finally:
        client.close()
