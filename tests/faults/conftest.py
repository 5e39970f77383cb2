"""Fault tests: an app, workers and a Redis server of their own (so they can stop it).

Timings are shortened through configuration, never patched: `validateur.stack`'s
`FAST_FAULT_TIMINGS` (stall detection 3 s, sweeps every second, 2 s grace, 1 s retries).
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.support.apps import app_for
from tests.workers import start_rq_worker, stop
from validateur.stack import FAST_FAULT_TIMINGS, EmbeddedRedis


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fault_env(service_env: dict[str, str], own_redis: EmbeddedRedis) -> dict[str, str]:
    return {**service_env, **FAST_FAULT_TIMINGS, "REDIS_URL": own_redis.url,
            "VALIDATEUR_QUEUE": f"faults-{secrets.token_hex(3)}"}


@pytest.fixture(scope="module")
def fault_app(app: Flask, fault_env: dict[str, str]) -> Flask:
    """Bound to the fault tests' own Redis and timings."""
    return app_for(fault_env)


@pytest.fixture()
def workers(fault_env: dict[str, str], tmp_path: Path
            ) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start `validateur worker` processes on demand; all stopped after the test."""
    started: list[subprocess.Popen[bytes]] = []

    def _start() -> subprocess.Popen[bytes]:
        process = start_rq_worker(fault_env, tmp_path / f"worker-{len(started)}.log",
                                  plain=False, new_session=True)
        started.append(process)
        return process

    yield _start
    for process in started:
        stop(process, timeout=15)
