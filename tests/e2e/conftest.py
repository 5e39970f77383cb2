"""A real `rq worker` subprocess shared by the end-to-end tests of one module."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from flask import Flask

from tests.workers import start_rq_worker, stop


@pytest.fixture(scope="module")
def rq_worker(app: Flask, service_env: dict[str, str],
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[subprocess.Popen[bytes]]:
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    process = start_rq_worker(service_env, log)
    yield process
    stop(process)
