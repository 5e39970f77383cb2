"""Redis connection manager and enqueueing of validation jobs.

The web only ever puts a run id in Redis: the job is referenced by its dotted name (the web
never imports `jobs`), with every RQ option explicit. The client uses short connect and
socket timeouts so an outage answers 503 at once, and retries with exponential backoff so a
Redis restart is absorbed without a process restart.
"""

from __future__ import annotations

import atexit
import logging
import re
from typing import Any

from flask import Flask, current_app
from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry as RedisRetry
from rq import Callback, Queue, Retry
from rq.job import Job

from validateur.config import (
    DEFAULT_FAILURE_TTL_SECONDS,
    DEFAULT_REDIS_CONNECT_TIMEOUT_SECONDS,
    DEFAULT_REDIS_SOCKET_TIMEOUT_SECONDS,
    DEFAULT_RESULT_TTL_SECONDS,
)

log = logging.getLogger(__name__)

EXTENSION_KEY = "validateur.redis"
VALIDATE_JOB = "jobs.validation.validate_run"
ON_FAILURE = "jobs.callbacks.on_validation_failure"

_PASSWORD_IN_URL = re.compile(r"(?P<scheme>[a-z+]+://)(?P<user>[^:@/]*):(?P<pw>[^@/]+)@")


class QueueUnavailable(RuntimeError):
    """Redis cannot be reached: the caller answers 503 and leaves nothing behind."""


def mask_url(url: str) -> str:
    """Hide the password of a URL for logs: `redis://:pw@h:6379/0` → `redis://:***@h:6379/0`."""
    return _PASSWORD_IN_URL.sub(lambda m: f"{m['scheme']}{m['user']}:***@", url)


def job_id_for(run_id: int) -> str:
    return f"validation-{run_id}"


class RedisManager:
    """Owns the app's Redis client: lazy connect, timeouts, backoff, health check, close."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._client: Redis | None = None

    @property
    def client(self) -> Redis:
        if self._client is None:
            if not self.url:
                raise QueueUnavailable("REDIS_URL n'est pas configurée")
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

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except (RedisError, QueueUnavailable, OSError):
            return False

    def server_info(self) -> dict[str, Any]:
        info: dict[str, Any] = self.client.info("server")
        return info

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def init_app(app: Flask) -> None:
    manager = RedisManager(app.config["REDIS_URL"])
    app.extensions[EXTENSION_KEY] = manager
    atexit.register(manager.close)  # close the pool's sockets when the process shuts down


def redis_manager() -> RedisManager:
    manager: RedisManager = current_app.extensions[EXTENSION_KEY]
    return manager


def get_queue() -> Queue:
    return Queue(current_app.config["VALIDATEUR_QUEUE"], connection=redis_manager().client)


def enqueue_validation(run_id: int) -> Job:
    """Enqueue `validation-<run id>` with the run id as its only argument.

    Raises `QueueUnavailable` when Redis cannot take the job.
    """
    intervals = current_app.config["VALIDATEUR_RETRY_SECONDS"]
    try:
        return get_queue().enqueue_call(
            VALIDATE_JOB,
            args=(run_id,),
            job_id=job_id_for(run_id),
            description=f"validation run {run_id}",
            timeout=current_app.config["VALIDATEUR_JOB_TIMEOUT"],
            result_ttl=DEFAULT_RESULT_TTL_SECONDS,
            failure_ttl=DEFAULT_FAILURE_TTL_SECONDS,
            retry=Retry(max=len(intervals), interval=intervals),
            on_failure=Callback(ON_FAILURE),
        )
    except (RedisError, OSError) as exc:
        log.warning("enqueue of run %s failed: %s", run_id, type(exc).__name__)
        raise QueueUnavailable("file d'attente indisponible") from None


def check_redis(url: str) -> tuple[bool, list[str]]:
    """PING, a SET/GET round trip and the server version, as lines for the operator."""
    if not url:
        return False, ["REDIS_URL n'est pas définie."]
    lines = [f"Redis : {mask_url(url)}"]
    manager = RedisManager(url)
    try:
        client = manager.client
        lines.append(f"PING : {'PONG' if client.ping() else 'sans réponse'}")
        key = "validateur:check-redis"
        client.set(key, "ok", ex=10)
        round_trip = client.get(key) == b"ok"
        client.delete(key)
        lines.append(f"SET/GET : {'réussi' if round_trip else 'ÉCHEC'}")
        lines.append(f"Version du serveur : {manager.server_info().get('redis_version', '?')}")
        return round_trip, lines
    except (RedisError, OSError) as exc:
        lines.append(f"Redis injoignable ({type(exc).__name__}) : vérifiez REDIS_URL, que le "
                     "serveur tourne et que le mot de passe est correct.")
        return False, lines
    finally:
        manager.close()
