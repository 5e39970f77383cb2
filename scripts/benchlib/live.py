"""How soon an open run page learns that its run ended, and what an open page costs (issue 17,
item 5).

- **Run final → page sees it**: the client opens the run's event stream
  (`/api/validations/<id>/events`, what `static/run.js` follows) right after the upload's 202
  and reads until the final event. The figure against the target is the moment it parsed that
  event minus the moment the run's final status became visible to other sessions (its
  commit), which a connection of the bench's own looks for every 5 ms (`FinalSeen`: a clock
  independent of the notice under test). Printed beside it: the same minus the run's
  `finishedAt`, PostgreSQL's `now()` in the transaction that made the run final, i.e. that
  transaction's *start*: it adds the end's own transaction (its log line, settle, outbox rows
  and the commit's WAL flush), an upper bound. Same host, same clock.
  A run already final when its stream opened (a small file can finish within the 202's round
  trip) is counted apart: its figure measures opening the stream, not the notice.
- **Load per open page**: CPU of the web processes (gunicorn and its workers) and of the
  stack's PostgreSQL backends over `LOAD_SECONDS`, with the workers stopped and
  `LOAD_PAGES` runs queued: none watched, then each watched by one idle stream, then (what
  the page did before) each polled every 1.5 s.

Standalone: `.venv/bin/python scripts/benchlib/live.py` (a stack of its own; the same figures
as `scripts/bench`).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import statistics
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg

if __name__ == "__main__":  # standalone: the same import roots as scripts/bench.py
    sys.path[:0] = [str(Path(__file__).resolve().parents[1]),
                    str(Path(__file__).resolve().parents[2])]

from benchlib.client import parse_time, upload_file
from benchlib.report import Report
from benchlib.targets import MAX_PAGE_FINAL_MS
from validateur.stack import FINAL_STATUSES, OwnStack, stop

LATENCY_RUNS = 8
LOAD_PAGES = 50
LOAD_SECONDS = 30.0
#: The page's polling period before the event stream (static/run.js), for the comparison.
POLL_SECONDS = 1.5
#: How often the bench looks for the run's final status on its own connection (± this).
FINAL_POLL_SECONDS = 0.005


@contextlib.contextmanager
def event_stream(stack: OwnStack, run_id: int) -> Iterator[http.client.HTTPResponse]:
    url = urllib.parse.urlsplit(stack.api.base)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=120)
    try:
        connection.request("GET", f"/api/validations/{run_id}/events",
                           headers={"Authorization": f"Bearer {stack.api.token}",
                                    "Accept": "text/event-stream"})
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"event stream refused: {response.status}")
        yield response
    finally:
        connection.close()


def events(response: http.client.HTTPResponse) -> Iterator[tuple[str, dict[str, Any], float]]:
    """(kind, data, time parsed) of each event; comments and `retry:` skipped."""
    kind, data = "", ""
    while line := response.readline():
        text = line.decode().rstrip("\n")
        if text.startswith("event: "):
            kind = text[7:]
        elif text.startswith("data: "):
            data = text[6:]
        elif not text and data:
            yield kind, json.loads(data), time.time()
            kind, data = "", ""


class FinalSeen:
    """When the run's final status became visible to other sessions (its commit), seen by
    a query every `FINAL_POLL_SECONDS` on a connection of the bench's own: a clock that
    does not depend on the notice under test."""

    def __init__(self, database_url: str) -> None:
        self.at: float | None = None
        self.run_id: int | None = None
        self._stop = threading.Event()
        self._conn = psycopg.connect(database_url, autocommit=True)
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def follow(self, run_id: int) -> None:
        self.at, self.run_id = None, run_id

    def _loop(self) -> None:
        while not self._stop.wait(FINAL_POLL_SECONDS):
            run_id = self.run_id
            if run_id is None or self.at is not None:
                continue
            row = self._conn.execute("SELECT status FROM validation_runs WHERE id = %s",
                                     (run_id,)).fetchone()
            if row and row[0] in FINAL_STATUSES and self.run_id == run_id:
                self.at = time.time()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._conn.close()


@dataclass
class Seen:
    latency: float  # seconds from finishedAt to the final event parsed
    after_commit: float  # seconds from the final status visible (`FinalSeen`) to the same
    final_at_open: bool  # the stream's first event was already final
    status: str


def page_sees_final(stack: OwnStack, path: Path, final: FinalSeen) -> Seen:
    """Upload `path`, follow its stream to the final event, compare with `finishedAt` and with
    the moment its final status became visible (`FinalSeen`)."""
    status, body = upload_file(stack.api, path)
    if status != 202:
        raise RuntimeError(f"upload refused: {status} {body}")
    run_id = int(body["validationId"])
    final.follow(run_id)
    first = True
    with event_stream(stack, run_id) as response:
        for kind, data, parsed in events(response):
            if kind == "run" and data["status"] in FINAL_STATUSES:
                finished = parse_time(stack.api.run(run_id).get("finishedAt"))
                if finished is None:
                    raise RuntimeError("final run without finishedAt")
                for _ in range(100):  # the query seeing it final may run after the event
                    if final.at is not None:
                        break
                    time.sleep(FINAL_POLL_SECONDS)
                committed = final.at if final.at is not None else parsed
                return Seen(parsed - finished, parsed - committed, first, str(data["status"]))
            first = False
    raise RuntimeError(f"run {run_id}: stream ended before its final state")


def latencies(stack: OwnStack, path: Path, runs: int) -> list[Seen]:
    final = FinalSeen(stack.database_url)
    try:
        page_sees_final(stack, path, final)  # warm-up: each web worker's hub listening
        page_sees_final(stack, path, final)
        seen = []
        for _ in range(runs):
            time.sleep(0.5)
            seen.append(page_sees_final(stack, path, final))
        return seen
    finally:
        final.close()


def report_latency(report: Report, label: str, seen: list[Seen]) -> None:
    live = [s.latency * 1000 for s in seen if not s.final_at_open]
    at_open = [s.latency * 1000 for s in seen if s.final_at_open]
    statuses = {s.status for s in seen}
    commit = [s.after_commit * 1000 for s in seen if not s.final_at_open]
    if live:
        p50, worst = statistics.median(commit), max(commit)
        report.add(f"run final → page (event stream) sees it, {label}: p50 of {len(live)}",
                   f"{p50:.0f} ms (max {worst:.0f} ms) after its final status became "
                   f"visible; {statistics.median(live):.0f} ms (max {max(live):.0f} ms) after "
                   f"finishedAt (the end transaction's start"
                   + (f"; {len(at_open)} more already final when their stream opened, "
                      f"p50 {statistics.median(at_open):.0f} ms" if at_open else "")
                   + f"; {', '.join(sorted(statuses))})",
                   f"≤ {MAX_PAGE_FINAL_MS} ms (max)", worst <= MAX_PAGE_FINAL_MS)
    elif at_open:
        worst = max(at_open)
        report.add(f"run final → page (event stream) sees it, {label}: all {len(at_open)} "
                   "final before their stream opened (upload answer → stream open)",
                   f"p50 {statistics.median(at_open):.0f} ms (max {worst:.0f} ms)",
                   f"≤ {MAX_PAGE_FINAL_MS} ms (max)", worst <= MAX_PAGE_FINAL_MS)


# -- load per open page -------------------------------------------------------------------

def _cpu(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            t = process.cpu_times()
            total += t.user + t.system
    return total


def _web(stack: OwnStack) -> list[psutil.Process]:
    assert stack.web is not None
    master = psutil.Process(stack.web.pid)
    return [master, *master.children(recursive=True)]


def _backends(database: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if process.info["name"] == "postgres" and database in " ".join(
                    process.info["cmdline"] or ()):
                found.append(process)
    return found


def _window(stack: OwnStack, seconds: float) -> tuple[float, float]:
    """Cores used by the web and by the stack's PostgreSQL backends over `seconds`."""
    web, backends = _web(stack), _backends(stack.database_name)
    web0, pg0 = _cpu(web), _cpu(backends)
    time.sleep(seconds)
    return (_cpu(web) - web0) / seconds, (_cpu(backends) - pg0) / seconds


def _idle_stream(stack: OwnStack, run_id: int, opened: threading.Semaphore,
                 held: list[http.client.HTTPResponse]) -> None:
    """Open the run's stream, take its first event, then read on until the socket is shut."""
    with contextlib.suppress(Exception), event_stream(stack, run_id) as response:
        held.append(response)
        for _ in events(response):
            opened.release()
            break
        while response.readline():
            pass


def _shut(held: list[http.client.HTTPResponse]) -> None:
    for response in held:
        with contextlib.suppress(Exception):
            response.fp.raw._sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]


def _poller(stack: OwnStack, run_id: int, done: threading.Event) -> None:
    while not done.wait(POLL_SECONDS):
        stack.api.run(run_id)


@dataclass
class Load:
    idle: tuple[float, float]
    streams: tuple[float, float]
    polling: tuple[float, float]


def load_per_page(stack: OwnStack, content: bytes, pages: int, seconds: float) -> Load:
    """Workers stopped, `pages` runs queued: CPU with none watched, each streamed, each
    polled; then the workers come back and take the runs."""
    for worker in stack.live_workers():
        stop(worker, timeout=60)
    stack.workers.clear()
    try:
        run_ids = [int(stack.api.upload(content)[1]["validationId"]) for _ in range(pages)]
        time.sleep(2.0)
        idle = _window(stack, seconds)
        opened, held = threading.Semaphore(0), []
        threads = [threading.Thread(target=_idle_stream, args=(stack, run_id, opened, held),
                                    daemon=True) for run_id in run_ids]
        for thread in threads:
            thread.start()
        for _ in run_ids:
            opened.acquire(timeout=30)
        time.sleep(1.0)
        streams = _window(stack, seconds)
        _shut(held)
        for thread in threads:
            thread.join(10)
        done = threading.Event()
        pollers = [threading.Thread(target=_poller, args=(stack, run_id, done), daemon=True)
                   for run_id in run_ids]
        for thread in pollers:
            thread.start()
        time.sleep(POLL_SECONDS)
        polling = _window(stack, seconds)
        done.set()
    finally:
        for _ in range(stack.worker_count):
            stack.add_worker()
    for run_id in run_ids:
        stack.api.wait_final(run_id)
    return Load(idle, streams, polling)


def report_load(report: Report, load: Load, pages: int, seconds: float) -> None:
    (web0, pg0), (web1, pg1), (web2, pg2) = load.idle, load.streams, load.polling
    report.add(f"CPU with {pages} runs queued, {seconds:.0f} s: no page open",
               f"web {web0 * 1000:.1f} ms/s, PostgreSQL {pg0 * 1000:.1f} ms/s")
    report.add(f"CPU with {pages} open run pages (idle event streams)",
               f"web {web1 * 1000:.1f} ms/s, PostgreSQL {pg1 * 1000:.1f} ms/s; per page "
               f"{(web1 + pg1 - web0 - pg0) / pages * 1000:.2f} ms/s")
    report.add(f"CPU with {pages} pages polling every {POLL_SECONDS} s (the page before)",
               f"web {web2 * 1000:.1f} ms/s, PostgreSQL {pg2 * 1000:.1f} ms/s; per page "
               f"{(web2 + pg2 - web0 - pg0) / pages * 1000:.2f} ms/s")


def measure(stack: OwnStack, report: Report, small: Path, large: Path, large_rows: int,
            runs: int = LATENCY_RUNS) -> None:
    """Every figure of this module, on a started stack."""
    report_latency(report, "20 rows", latencies(stack, small, runs))
    report_latency(report, f"{large_rows:,} rows", latencies(stack, large, runs))
    report_load(report, load_per_page(stack, small.read_bytes(), LOAD_PAGES, LOAD_SECONDS),
                LOAD_PAGES, LOAD_SECONDS)


def main() -> int:
    import shutil
    import tempfile

    from make_sample_csv import write_sample

    from benchlib.targets import BENCH_ENV

    work = Path(tempfile.mkdtemp(prefix="validateur-live-"))
    stack = OwnStack(work, BENCH_ENV)
    report = Report()
    try:
        small, large = work / "facturation-20.csv", work / "facturation-100000.csv"
        write_sample(small, 20, encoding="cp1252", delimiter=";", seed=1)
        write_sample(large, 100_000, encoding="cp1252", delimiter=";")
        stack.start()
        measure(stack, report, small, large, 100_000)
    finally:
        with contextlib.suppress(Exception):
            stack.stop()
        shutil.rmtree(work, ignore_errors=True)
    report.print()
    return 0 if all(f.met for f in report.figures if f.met is not None) else 1


if __name__ == "__main__":
    sys.exit(main())
