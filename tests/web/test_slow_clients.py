"""The real gunicorn with gunicorn.conf.py: slow clients, and log lines nobody can forge.

Twenty sockets trickle a byte every 2 s (ten in their body, ten in their headers) while
`/api/health` is asked four times a second: each answer must come within 1 s throughout.
Then requests whose path holds `%0a`, `%0d` and `%00` must leave one escaped access-log
line each, never a line of their own, never a NUL byte.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.workers import stop, wait_for
from validateur.stack import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
SLOW_SOCKETS = 20
TRICKLE_SECONDS = 2.0
WATCH_SECONDS = 12.0


@pytest.fixture(scope="module")
def gunicorn(app: object, service_env: dict[str, str],
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    port = free_port()
    log = tmp_path_factory.mktemp("gunicorn") / "web.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "validateur:create_app()"],
        env={**os.environ, **service_env, "GUNICORN_BIND": f"127.0.0.1:{port}"}, cwd=ROOT,
        stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, 30)
        wait_for(lambda: _health_ok(port), 60, 0.5)  # both workers have booted the app
        yield port, log
    finally:
        stop(process)


def _health_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=10) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _slow_client(port: int, body: bool, stop_at: float) -> None:
    """One byte every 2 s, in the body of a POST or in the headers of a GET."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        if body:
            sock.sendall(b"POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10000\r\n"
                         b"Content-Type: application/x-www-form-urlencoded\r\n\r\n")
        else:
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n")
        while time.monotonic() < stop_at:
            try:
                sock.sendall(b"a" if body else b"X")
            except OSError:
                return  # the server closed a client that took too long: fine
            time.sleep(TRICKLE_SECONDS)


def health_latencies(port: int, seconds: float) -> list[float]:
    """Seconds each `/api/health` took (capped at 5) while slow clients trickle."""
    stop_at = time.monotonic() + seconds + 2
    threads = [threading.Thread(target=_slow_client, args=(port, n % 2 == 0, stop_at),
                                daemon=True) for n in range(SLOW_SOCKETS)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # every slow socket is open and has started sending
    latencies = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5) as r:
                assert r.status == 200
        except OSError:
            pass
        latencies.append(time.monotonic() - started)
        time.sleep(0.25)
    for thread in threads:
        thread.join(10)
    return latencies


def test_health_answers_within_a_second_while_twenty_clients_trickle(
        gunicorn: tuple[int, Path]) -> None:
    latencies = health_latencies(gunicorn[0], WATCH_SECONDS)
    print(f"health under {SLOW_SOCKETS} slow sockets: {len(latencies)} requests, median "
          f"{statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")
    assert len(latencies) >= 20
    assert max(latencies) < 1.0


def _raw_get(port: int, path: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        return sock.recv(1024)


def test_access_log_lines_cannot_be_forged(gunicorn: tuple[int, Path]) -> None:
    port, log = gunicorn
    for path in (b"/forged%0a10.0.0.1%20%22GET%20/admin%22%20200", b"/cr%0dFAKE-CR",
                 b"/nul%00byte", b"/bidi%E2%80%AEgnp.exe"):
        assert _raw_get(port, path).startswith(b"HTTP/1.1 ")
    time.sleep(0.5)
    text = log.read_bytes()
    assert b"\x00" not in text and b"\r" not in text and "\u202e".encode() not in text
    lines = text.decode().splitlines()
    assert any('"GET /forged\\n10.0.0.1 \\"GET /admin\\" 200"' in line for line in lines)
    assert not any(line.startswith(("10.0.0.1", "FAKE")) for line in lines)
    assert any("/nul\\x00byte" in line for line in lines)
    assert any("/bidi\\u202egnp.exe" in line for line in lines)
