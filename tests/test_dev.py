"""`validateur dev` as a person runs it: up, an upload through the API, then Ctrl+C."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.csvfiles import act, billing_csv
from tests.workers import wait_for
from validateur.dev import EmbeddedRedis, free_port, wait_for_port

pytestmark = pytest.mark.e2e


def _multipart(content: bytes) -> tuple[bytes, str]:
    boundary = "----validateur-test"
    body = io.BytesIO()
    body.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
               f"filename=\"f.csv\"\r\nContent-Type: text/csv\r\n\r\n".encode())
    body.write(content)
    body.write(f"\r\n--{boundary}--\r\n".encode())
    return body.getvalue(), f"multipart/form-data; boundary={boundary}"


def _call(url: str, token: str, data: bytes | None = None, ctype: str = "") -> dict[str, object]:
    request = urllib.request.Request(url, data=data, headers={"Authorization": f"Bearer {token}"})
    if ctype:
        request.add_header("Content-Type", ctype)
    with urllib.request.urlopen(request, timeout=10) as response:
        result: dict[str, object] = json.loads(response.read())
        return result


def test_dev_serves_processes_an_upload_and_stops_cleanly_on_ctrl_c(
    app: object, service_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "dev.log"
    env = {**os.environ, **service_env}
    env.pop("VALIDATEUR_TESTING")
    dev = subprocess.Popen([sys.executable, "-m", "validateur", "dev", "--port", str(port)],
                           env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "Jeton d'API" in log.read_text(errors="replace"), 60)
        found = re.search(r"Jeton d'API de développement : (\S+)", log.read_text())
        assert found is not None
        token = found.group(1)
        wait_for_port(port, 30)
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: _call(f"{base}/api/health", token)["workers"] == 2, 30)
        body, ctype = _multipart(billing_csv([act(n) for n in range(1, 51)]))
        run_id = _call(f"{base}/api/validations", token, body, ctype)["validationId"]
        wait_for(lambda: _call(f"{base}/api/validations/{run_id}", token)["status"]
                 == "completed", 60)
        children = psutil.Process(dev.pid).children(recursive=True)
        assert len(children) >= 3
        dev.send_signal(signal.SIGINT)
        assert dev.wait(45) == 0
        wait_for(lambda: not any(child.is_running() and child.status() != "zombie"
                                 for child in children), 15)
        assert "Validateur arrêté." in log.read_text()
    finally:
        if dev.poll() is None:
            dev.kill()


def test_embedded_redis_is_out_of_reach_of_the_terminals_ctrl_c(tmp_path: Path) -> None:
    """Ctrl+C goes to the terminal's whole process group: Redis must not stop before the
    workers do; `validateur dev` stops it last."""
    redis = EmbeddedRedis(tmp_path / "redis")
    redis.start()
    try:
        assert redis.process is not None
        assert os.getsid(redis.process.pid) != os.getsid(0)
    finally:
        redis.stop()
    assert redis.process.poll() is not None
