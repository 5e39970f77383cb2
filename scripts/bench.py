"""Benchmark (issue 6): the floor, ours and the peer on one machine, against the targets.

Brings up a whole stack of its own (`validateur.stack.OwnStack`: a fresh database, its own
Redis, gunicorn, two `validateur worker` processes, production timings), generates billing
files (cp1252, `;`) into a temporary directory and measures:

- the floor: psycopg 3 `COPY … FROM STDIN` of the same rows, parsing included, into a table
  shaped like the stored rows (`billing_rows`) (same primary key);
- ours: upload → `completed` through the HTTP API, all rules on, and the split per phase;
- the peer: frictionless's `validate` on the 100,000-row file, through its Python API and as
  the `frictionless validate` command;
- the RSS of the RQ work-horse (peak), up to the largest file `VALIDATEUR_MAX_UPLOAD_MB`
  accepts (~1.3M rows), and of the web processes while they receive ~200 MB;
- the bytes a run keeps in PostgreSQL per stored row (rows, findings, their indexes);
- upload latency with small files arriving at random (an open loop, 20 per second), the
  saturation of 20 clients posting in a closed loop, and the delay from upload to job start
  on an idle worker.

It prints the machine and one table: each figure, its target, whether it is met, and how
busy the CPUs were outside the bench's own processes meanwhile (other sessions, tests):
figures taken while that column is high are slowed by someone else. Before each measurement
it waits (up to 2 minutes) for a second with less than 0.3 cores busy elsewhere, and it
measures again (3 tries in all, the least disturbed kept) when others were busy during it.
Then the split per phase of our runs, and (--profile) where the work-horse spends its time.
Exit code 1 when a target is missed. docs/benchmarks.md has the definitions and a reading.

Usage: ./scripts/bench [--quick] [--profile] [--keep] [--busy]
  --quick    100,000 rows only, a 100,000-row file for the web memory figure, fewer uploads
  --profile  after the timed runs, one more run of the largest file under py-spy (not timed);
             prints where the work-horse spends its time
  --keep     keep the temporary directory (files, logs, profile)
  --busy     on a machine others are using: measure at once, once (figures are indicative)

The parts live in `scripts/benchlib/` (its docstring lists them); this file runs them in order.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
from pathlib import Path

from benchlib.measurements import cut_to, head_of, import_codes
from benchlib.profile import profile
from benchlib.report import Report, machine, print_splits
from benchlib.suite import Bench
from benchlib.targets import BENCH_ENV, OPEN_LOOP_SECONDS, RULES_RATIO_RUNS, WEB_UPLOAD_BYTES
from benchlib.watchers import CpuWatch
from make_sample_csv import write_sample

from validateur.config import DEFAULT_MAX_UPLOAD_MB
from validateur.stack import OwnStack

#: Rows generated for the largest accepted upload, then cut to the limit (~235 bytes a row).
LARGEST_SOURCE_ROWS = 1_400_000


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


def write_largest(work: Path) -> tuple[int, Path]:
    """The largest file an upload accepts (`VALIDATEUR_MAX_UPLOAD_MB`, the bench's default):
    the header and as many whole lines as fit."""
    source, largest = work / "facturation-source.csv", work / "facturation-largest.csv"
    write_sample(source, LARGEST_SOURCE_ROWS, encoding="cp1252", delimiter=";")
    rows = cut_to(source, largest, DEFAULT_MAX_UPLOAD_MB * 1024 * 1024)
    source.unlink()
    return rows, largest


def measure(stack: OwnStack, watch: CpuWatch, report: Report, args: argparse.Namespace,
            work: Path) -> None:
    sizes = [100_000] if args.quick else [100_000, 1_000_000]
    clients, each, starts = (20, 3, 5) if args.quick else (20, 10, 10)
    print(f"generating files in {work} …", flush=True)
    files, small, web_file, web_rows = write_files(work, sizes, args.quick)
    largest = None if args.quick else write_largest(work)
    print("starting the stack (database, Redis, gunicorn, 2 workers) …", flush=True)
    stack.start()
    watch.start(stack.database_name)
    lines = [*machine(stack), import_codes(stack)]
    print("\n".join(lines) + "\n", flush=True)

    bench = Bench(stack, watch, report, sizes, files, largest, work)
    floor = bench.floor()
    peer_rate = bench.peer()
    bench.job_start(small.read_bytes(), starts)
    bench.open_loop(small.read_bytes(), OPEN_LOOP_SECONDS / (3 if args.quick else 1))
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
    flags = "".join(f" --{name}" for name in ("quick", "busy") if getattr(args, name))
    print(f"command: ./scripts/bench{flags}\n")
    report.print()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="100,000 rows only and smaller figures (a fast check)")
    parser.add_argument("--profile", action="store_true",
                        help="profile one more run of the largest file with py-spy")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--busy", action="store_true",
                        help="do not wait for a quiet machine; one try per figure")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="validateur-bench-"))
    report = Report()
    stack = OwnStack(work, BENCH_ENV)
    watch = CpuWatch(patient=not args.busy)
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
