"""Time the calendar and a page of findings on a big run, and the Excel export's memory.

    python scripts/measure_findings.py --rows 1000000 [--findings 131000] [--export 200000]

Uses its own database `validateur_measure` on the local PostgreSQL (created if missing,
emptied first), validates a generated file in-process (scripts/make_sample_csv.py), then:
the calendar query (whole run, one doctor, one month), a findings page filtered several ways
at `--findings` findings, and the web process's RSS while `results.xlsx` streams `--export`
findings. Prints one line per figure.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import psutil
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BASE = os.environ.get("MEASURE_DATABASE_BASE", "postgresql://postgres@127.0.0.1:5432")
NAME = "validateur_measure"


def _database() -> str:
    with psycopg.connect(f"{BASE}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {NAME}")
        conn.execute(f"CREATE DATABASE {NAME}")
    return f"{BASE}/{NAME}"


def _timed(label: str, call: object, repeat: int = 3) -> object:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
    print(f"{label}: {best * 1000:.0f} ms")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--findings", type=int, default=131_000)
    parser.add_argument("--export", type=int, default=200_000)
    parser.add_argument("--reuse", action="store_true",
                        help="keep the database and its first run (no new validation)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="measure-"))
    url = f"{BASE}/{NAME}" if args.reuse else _database()
    os.environ.update({"DATABASE_URL": url, "SECRET_KEY": "measure",
                       "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
                       "VALIDATEUR_TESTING": "1", "VALIDATEUR_UPLOAD_DIR": str(work)})
    from flask_migrate import upgrade

    from tests.support.csvfiles import sample_file
    from tests.support.runs import make_run, stored_file
    from validateur import calendar, create_app
    from validateur.extensions import db
    from validateur.models import ValidationResult
    from validateur.web import queries

    app = create_app({"WTF_CSRF_ENABLED": False})
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        if args.reuse:
            run_id = 1
        else:
            path = sample_file(work / "sample.csv", args.rows)
            stored, size = stored_file(path)
            run_id = make_run("queued", stored_name=stored, file_size=size)
            from jobs.validation import validate_run

            started = time.perf_counter()
            validate_run(run_id)
            print(f"validation of {args.rows} rows: {time.perf_counter() - started:.1f} s")
        db.session.rollback()
        days = _timed("calendar, whole run", lambda: _fresh(db, calendar.calendar, run_id))
        doctor = days[0]["doctor"]  # type: ignore[index]
        _timed("calendar, one doctor", lambda: _fresh(db, calendar.calendar, run_id, doctor))
        month = date(2025, 3, 1)
        _timed("calendar, one doctor and month",
               lambda: _fresh(db, calendar.calendar, run_id, doctor, month))
        big = run_id  # a million generated rows give about 131 000 findings
        have = db.session.query(ValidationResult).filter_by(validation_run_id=run_id).count()
        if have < args.findings:
            big = _fill(db, ValidationResult, run_id, args.findings)
        print(f"findings of the run: {have}")
        filters = [{}, {"severity": "warning"}, {"doctor": doctor}, {"rule": "office-fee",
                   "scenario": "MISSED"}, {"date": month.replace(day=10)},
                   {"claim": "20000000500"}]
        for args_ in filters:
            query = queries.filtered_findings(big, args_)
            _timed(f"findings page 1 at {args.findings} findings {args_}",
                   lambda q=query: queries.paginate(q, 1, 50))
        query = queries.filtered_findings(big, {})
        _timed(f"findings last page at {args.findings} findings",
               lambda: queries.paginate(query, args.findings // 50, 50))
        _timed("groups per scenario", lambda: queries.finding_groups(big, {}, by_scenario=True))
        export = _fill(db, ValidationResult, run_id, args.export)
    _export_rss(app, export, args.export)


def _fresh(db: object, call: Any, *args: object) -> object:
    """`call(*args)` in its own transaction (the calendar sets transaction-local settings)."""
    try:
        return call(*args)
    finally:
        db.session.rollback()  # type: ignore[attr-defined]


def _fill(db: object, model: type, like: int, count: int) -> int:
    """A completed run holding `count` findings copied (cycled) from run `like`."""
    from sqlalchemy import text

    from tests.support.runs import make_run

    run_id = make_run("completed", file_name=f"copie-{count}.csv")
    session = db.session  # type: ignore[attr-defined]
    columns = ("rule, scenario, severity, message, solution, rows, id_ramq, monetary_impact, "
               "data, severity_rank, service_date, doctor, doctor_label, person, lines")
    session.execute(text(
        f"INSERT INTO validation_results (validation_run_id, {columns}) "
        f"SELECT :run, {columns} FROM (SELECT *, row_number() OVER () AS n FROM "
        "validation_results WHERE validation_run_id = :like) AS f, generate_series(1, :times) "
        "LIMIT :count"), {"run": run_id, "like": like, "times": count // 1000 + 1,
                          "count": count})
    session.commit()
    return run_id


def _export_rss(app: object, run_id: int, count: int) -> None:
    """Stream the Excel export through the app (as the web process does), sampling RSS."""
    from validateur.auth import create_token, create_user
    from validateur.models import Role

    with app.app_context():  # type: ignore[attr-defined]
        user, _ = create_user("measure@example.org", Role.ADMIN)
        token = create_token(user)
    client = app.test_client()  # type: ignore[attr-defined]
    process = psutil.Process()
    before = process.memory_info().rss
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()
    response = client.get(f"/api/validations/{run_id}/results.xlsx", buffered=False,
                          headers={"Authorization": f"Bearer {token}"})
    size = sum(len(chunk) for chunk in response.response)
    done.set()
    sampler.join()
    print(f"xlsx export of {count} findings: status {response.status_code}, "
          f"{size / 1e6:.1f} MB in {time.perf_counter() - started:.1f} s; web process RSS "
          f"{before / 2**20:.0f} MB before, peak {peak[0] / 2**20:.0f} MB "
          f"(+{(peak[0] - before) / 2**20:.0f} MB)")


if __name__ == "__main__":
    main()
