"""The other measurements: the floor (COPY), the peer (frictionless), upload latency (closed
and open loop), job start, the web's memory, the bytes a run keeps; and what readies the stack
for them (files, codes, a settled database)."""

from __future__ import annotations

import csv
import json
import math
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import psycopg
from make_sample_csv import GMF_PLACES

from benchlib.client import parse_time, upload_file
from benchlib.targets import CODES_TABLE
from benchlib.watchers import RssWatch
from validateur.records import CONTRACT_COLUMNS
from validateur.stack import OwnStack

#: CSV header label of each `billing_records` column after (validation_run_id, row_number).
FLOOR_LABELS = (
    "Facture", "ID RAMQ", "Date de Service", "Début", "Fin", "Periode", "Lieu de pratique",
    "Secteur d'activité", "Diagnostic", "Code", "Unités", "Rôle", "Élement de contexte",
    "Montant Preliminaire", "Montant payé", "Doctor Info", "Patient",
)
FLOOR_TABLE = "bench_floor_records"


# -- files and the stack ------------------------------------------------------------------------
def head_of(source: Path, target: Path, size: int) -> int:
    """Copy the header and the first lines of `source` until `size` bytes; returns data rows."""
    rows = -1
    with source.open("rb") as src, target.open("wb") as out:
        written = 0
        for line in src:
            out.write(line)
            written += len(line)
            rows += 1
            if written >= size:
                break
    return rows


def cut_to(source: Path, target: Path, limit: int) -> int:
    """Copy the header and as many whole lines of `source` as fit in `limit` bytes (the
    largest file an upload limit accepts); returns data rows."""
    rows = -1
    written = 0
    with source.open("rb") as src, target.open("wb") as out:
        for line in src:
            if written + len(line) > limit:
                break
            out.write(line)
            written += len(line)
            rows += 1
    return rows


def import_codes(stack: OwnStack) -> str:
    """Load the public RAMQ codes table into the bench's database when it is at hand."""
    if not CODES_TABLE.is_file():
        return f"codes table: {CODES_TABLE} not found, rules needing it report SKIPPED"
    stack.cli("import-codes", str(CODES_TABLE))
    return f"codes table: {CODES_TABLE.name} imported (all rules run in full)"


@contextmanager
def gmf_list(stack: OwnStack, work: Path) -> Iterator[None]:
    """The sample's GMF list (its cabinets; no GMF list is public) loaded for the runs inside.

    With it, `gmf-8875` keeps the first GMF visit of every patient-year, its largest state, and
    writes a `MISSED` finding for each one without an 8875: in the sample, almost every
    patient-year (about 35,000 more findings per 100,000 rows). The other figures are measured
    without it, as every bench before, so they stay comparable; the work-horse's memory at
    the largest upload is measured with it too, as an installation that imported its
    establishments runs.
    """
    listing = work / "gmf.txt"
    listing.write_text("\n".join(GMF_PLACES) + "\n", encoding="utf-8")
    stack.cli("import-gmf", str(listing))
    try:
        yield
    finally:
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            conn.execute("DELETE FROM gmf_establishments")


def settle_database(stack: OwnStack) -> None:
    """VACUUM and ANALYZE the bench's tables, then CHECKPOINT.

    After a million-row run PostgreSQL's autovacuum starts on its own (within its one-minute
    nap) and takes CPU and disk for seconds: a measurement it overlaps is slowed by it. Doing
    that work first makes the runs that follow comparable with each other.
    """
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) billing_rows, run_practices, validation_results,"
                     " validation_runs")
        conn.execute("CHECKPOINT")



# -- the floor -----------------------------------------------------------------------------------
def floor_copy(database_url: str, path: Path,
               before_close: Callable[[], object] = lambda: None) -> tuple[float, int]:
    """COPY every row of `path` into a table shaped like the stored rows (`billing_rows`'
    columns, primary key and indexes, `Doctor Info` as text on each row); (seconds, rows stored).

    Timed: reading and decoding the file, the csv module, decimal commas made numeric text
    (dates stay text: PostgreSQL parses both), `COPY … FROM STDIN`, the commit."""
    columns = ", ".join(CONTRACT_COLUMNS)
    with psycopg.connect(database_url) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {FLOOR_TABLE} "
                     "(LIKE billing_rows INCLUDING ALL)")
        conn.execute(f"TRUNCATE {FLOOR_TABLE}")
        conn.commit()
        started = time.perf_counter()
        with (path.open(encoding="cp1252", newline="") as handle, conn.cursor() as cursor,
              cursor.copy(f"COPY {FLOOR_TABLE} ({columns}) FROM STDIN") as copy):
            reader = csv.reader(handle, delimiter=";")
            header = next(reader)
            picks = [header.index(label) for label in FLOOR_LABELS]
            prelim, paid = picks[13], picks[14]
            text = picks[:13] + picks[15:]
            for number, cells in enumerate(reader, 1):
                values: list[Any] = [1, number]
                values += [cells[i] or None for i in text[:13]]
                values.append(cells[prelim].replace(",", ".") or None)
                values.append(cells[paid].replace(",", ".") or None)
                values += [cells[i] or None for i in text[13:]]
                copy.write_row(values)
        conn.commit()
        elapsed = time.perf_counter() - started
        row = conn.execute(f"SELECT count(*) FROM {FLOOR_TABLE}").fetchone()
        conn.execute(f"TRUNCATE {FLOOR_TABLE}")
        conn.commit()
        before_close()  # the CPU watch sees this connection's backend before it ends
    return elapsed, int(row[0]) if row else 0



# -- the peer ------------------------------------------------------------------------------------
def peer(path: Path) -> tuple[float, int, bool]:
    """frictionless's validate on `path` (cp1252, `;`); (seconds, rows checked, valid)."""
    from frictionless import Dialect, Resource, formats

    resource = Resource(path.name, basepath=str(path.parent), encoding="cp1252",
                        dialect=Dialect(controls=[formats.CsvControl(delimiter=";")]))
    started = time.perf_counter()
    report = resource.validate()
    elapsed = time.perf_counter() - started
    return elapsed, int(report.tasks[0].stats["rows"]), bool(report.valid)


def peer_command(path: Path) -> tuple[float, int, bool]:
    """`frictionless validate FILE --encoding cp1252 --json`, the issue's own words, as a
    user runs it (interpreter start included); (seconds, rows checked, valid)."""
    command = [str(Path(sys.executable).parent / "frictionless"), "validate", path.name,
               "--encoding", "cp1252", "--json"]  # a relative path: it refuses absolute ones
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          cwd=path.parent)
    elapsed = time.perf_counter() - started
    if not done.stdout.strip():
        raise RuntimeError(f"frictionless validate printed no report (exit {done.returncode})")
    report = json.loads(done.stdout)
    return elapsed, int(report["tasks"][0]["stats"]["rows"]), bool(report["valid"])



# -- latency -----------------------------------------------------------------------------------
def concurrent_uploads(stack: OwnStack, content: bytes, clients: int,
                       each: int) -> tuple[list[float], list[int], int]:
    """`clients` threads post `each` files; (latencies in s of the 202s, run ids, refusals)."""
    barrier = threading.Barrier(clients)
    results: list[tuple[float, int, dict[str, Any]]] = []
    lock = threading.Lock()

    def client() -> None:
        barrier.wait()
        for _ in range(each):
            t = time.perf_counter()
            status, body = stack.api.upload(content)
            with lock:
                results.append((time.perf_counter() - t, status, body))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ok = [(lat, body) for lat, status, body in results if status == 202]
    return ([lat for lat, _ in ok], [int(b["validationId"]) for _, b in ok],
            len(results) - len(ok))


def open_loop_uploads(stack: OwnStack, content: bytes, rate: float, duration: float,
                      seed: int = 17) -> tuple[list[float], list[int], int, float]:
    """Small uploads arriving at random (a Poisson process of `rate` per second) for
    `duration` seconds, each sent at its own moment whatever the others are doing (an open
    loop: a slow answer does not hold the next arrival back).

    Latency runs from the upload's scheduled moment to its 202, so a client that could not
    send on time (all threads busy) counts that wait too. Returns (latencies in s, run ids,
    refusals, arrivals per second achieved).
    """
    draw = random.Random(seed)
    moments: list[float] = []
    moment = draw.expovariate(rate)
    while moment < duration:
        moments.append(moment)
        moment += draw.expovariate(rate)
    results: list[tuple[float, int, dict[str, Any]]] = []
    lock = threading.Lock()
    start = time.perf_counter() + 0.5

    def upload(scheduled: float) -> None:
        status, body = stack.api.upload(content)
        with lock:
            results.append((time.perf_counter() - scheduled, status, body))

    with ThreadPoolExecutor(max_workers=64) as pool:
        for moment in moments:
            scheduled = start + moment
            time.sleep(max(0.0, scheduled - time.perf_counter()))
            pool.submit(upload, scheduled)
    ok = [(lat, body) for lat, status, body in results if status == 202]
    return ([lat for lat, _ in ok], [int(b["validationId"]) for _, b in ok],
            len(results) - len(ok), len(moments) / duration)


def percentile(values: list[float], q: int) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def job_starts(stack: OwnStack, content: bytes,
               count: int) -> tuple[list[float], list[float], list[float]]:
    """One small upload at a time on idle workers; (startedAt − createdAt, startedAt − 202
    received by the client, upload latency), seconds."""
    created_to_start: list[float] = []
    answer_to_start: list[float] = []
    latencies: list[float] = []
    for _ in range(count):
        time.sleep(0.5)  # the previous job's horse has exited: the workers are idle
        posted = time.perf_counter()
        status, body = stack.api.upload(content)
        latencies.append(time.perf_counter() - posted)
        answered = time.time()
        if status != 202:
            raise RuntimeError(f"upload refused: {status} {body}")
        run = stack.api.wait_final(int(body["validationId"]))
        started, created = parse_time(run.get("startedAt")), parse_time(run.get("createdAt"))
        if started is not None and created is not None:
            created_to_start.append(started - created)
            answer_to_start.append(started - answered)
    return created_to_start, answer_to_start, latencies



# -- disk -----------------------------------------------------------------------------------------
#: The tables a run writes to, with their indexes and TOAST (`pg_total_relation_size`).
RUN_TABLES = ("billing_rows", "run_practices", "validation_results", "validation_runs",
              "validation_logs")


def stored_bytes(database_url: str) -> dict[str, int]:
    """Bytes on disk of each run table and each of its indexes, right now."""
    query = """
        SELECT c.relname, pg_relation_size(c.oid) + COALESCE(pg_total_relation_size(
                   NULLIF(c.reltoastrelid, 0)), 0)
        FROM pg_class c
        LEFT JOIN pg_index i ON i.indexrelid = c.oid
        WHERE c.relname = ANY(%(tables)s) OR i.indrelid IN (
            SELECT oid FROM pg_class WHERE relname = ANY(%(tables)s))
    """
    with psycopg.connect(database_url) as conn:
        return {str(name): int(size) for name, size in
                conn.execute(query, {"tables": list(RUN_TABLES)})}


# -- web memory ------------------------------------------------------------------------------------
def web_growth(stack: OwnStack, path: Path) -> tuple[int, int, int, int]:
    """Upload `path` while watching gunicorn's processes; the run is cancelled at once.

    Returns (largest growth of one process, growth of their sum, baseline RSS of that process,
    its RSS after the upload), bytes."""
    assert stack.web is not None
    for _ in range(4):  # every gunicorn worker has served a few requests before the baseline
        stack.api.call("/api/health")
    with RssWatch([stack.web.pid]) as rss:
        status, body = upload_file(stack.api, path)
    if status == 202:
        run_id = int(body["validationId"])
        stack.api.cancel(run_id)
        stack.api.wait_final(run_id)
    pid, growth = rss.largest_growth()
    total = sum(rss.peak.values()) - sum(rss.baseline.values())
    after = psutil.Process(pid).memory_info().rss if psutil.pid_exists(pid) else 0
    return growth, total, rss.baseline[pid], after

