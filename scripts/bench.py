"""Benchmark (issue 6): the floor, ours and the peer on one machine, against the targets.

Brings up a whole stack of its own (`validateur.stack.OwnStack`: a fresh database, its own
Redis, gunicorn, two `validateur worker` processes, production timings), generates billing
files (cp1252, `;`) into a temporary directory and measures:

- the floor: psycopg 3 `COPY … FROM STDIN` of the same rows, parsing included, into a table
  shaped like `billing_records` (same primary key);
- ours: upload → `completed` through the HTTP API, all rules on, and the split per phase;
- the peer: frictionless's `validate` on the 100,000-row file, through its Python API and as
  the `frictionless validate` command;
- the RSS of the RQ work-horse (peak) and of the web processes while they receive ~200 MB;
- upload latency with 20 concurrent clients, and the delay from upload to job start on an
  idle worker.

It prints the machine and one table: each figure, its target, whether it is met, and how
busy the CPUs were outside the bench's own processes meanwhile (other sessions, tests):
figures taken while that column is high are slowed by someone else. Before each measurement
it waits (up to 2 minutes) for a second with less than 0.3 cores busy elsewhere, and it
measures again (3 tries in all, the least disturbed kept) when others were busy during it.
Then the split per phase of our runs, and (--profile) where the work-horse spends its time.
Exit code 1 when a target is missed. docs/benchmarks.md has the definitions and a reading.

Usage: ./scripts/bench [--quick] [--profile] [--keep]
  --quick    100,000 rows only, a 100,000-row file for the web memory figure, fewer uploads
  --profile  after the timed runs, one more run of the largest file under py-spy (not timed);
             prints where the work-horse spends its time
  --keep     keep the temporary directory (files, logs, profile)

The parts live in `scripts/benchlib/` (its docstring lists them); this file runs them in order.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
from pathlib import Path

from benchlib.measurements import head_of, import_codes
from benchlib.profile import profile
from benchlib.report import Report, machine, print_splits
from benchlib.suite import Bench
from benchlib.targets import BENCH_ENV, RULES_RATIO_RUNS, WEB_UPLOAD_BYTES
from benchlib.watchers import CpuWatch
from make_sample_csv import write_sample

from validateur.stack import OwnStack


def write_files(work: Path, sizes: list[int], quick: bool) -> tuple[dict[int, Path], Path,
                                                                     Path, int]:
    """The billing files (cp1252, `;`): one per size, a 20-row one, and the web's file."""
    files: dict[int, Path] = {}
    for rows in sizes:
        files[rows] = work / f"facturation-{rows}.csv"
        write_sample(files[rows], rows, encoding="cp1252", delimiter=";")
    small = work / "facturation-20.csv"
    write_sample(small, 20, encoding="cp1252", delimiter=";", seed=1)
    if quick:
        return files, small, files[100_000], 100_000
    web_file = work / "facturation-200MB.csv"
    return files, small, web_file, head_of(files[1_000_000], web_file, WEB_UPLOAD_BYTES)


def measure(stack: OwnStack, watch: CpuWatch, report: Report, args: argparse.Namespace,
            work: Path) -> None:
    sizes = [100_000] if args.quick else [100_000, 1_000_000]
    clients, each, starts = (20, 3, 5) if args.quick else (20, 10, 10)
    print(f"generating files in {work} …", flush=True)
    files, small, web_file, web_rows = write_files(work, sizes, args.quick)
    print("starting the stack (database, Redis, gunicorn, 2 workers) …", flush=True)
    stack.start()
    watch.start(stack.database_name)
    lines = [*machine(stack), import_codes(stack)]
    print("\n".join(lines) + "\n", flush=True)

    bench = Bench(stack, watch, report, sizes, files)
    floor = bench.floor()
    peer_rate = bench.peer()
    bench.job_start(small.read_bytes(), starts)
    bench.concurrency(small.read_bytes(), clients, each)
    runs = bench.ours(floor, peer_rate)
    bench.web(web_file, web_rows)
    bench.live(small)
    print_splits(runs)
    bench.rules_ratio(RULES_RATIO_RUNS if not args.quick else 2)
    stack.restart_workers(VALIDATEUR_RULES="")
    if args.profile:
        profile(stack, files[max(sizes)], max(sizes), work)
    print("\n" + "\n".join(lines))
    print(f"command: ./scripts/bench{' --quick' if args.quick else ''}\n")
    report.print()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="100,000 rows only and smaller figures (a fast check)")
    parser.add_argument("--profile", action="store_true",
                        help="profile one more run of the largest file with py-spy")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="validateur-bench-"))
    report = Report()
    stack = OwnStack(work, BENCH_ENV)
    watch = CpuWatch()
    try:
        measure(stack, watch, report, args, work)
    finally:
        watch.stop()
        with contextlib.suppress(Exception):
            stack.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if all(f.met for f in report.figures if f.met is not None) else 1


if __name__ == "__main__":
    sys.exit(main())
