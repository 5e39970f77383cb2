"""What the bench watches while it measures: CPU busy outside it, and peak RSS.

A figure taken while other processes (other sessions, tests) keep the cores busy is slowed
by them: `CpuWatch` says how busy they were, and takes a measurement again when they were.
`RssWatch` follows the memory of the worker (and the work-horse it forks) or of gunicorn.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple, TypeVar

import psutil

from benchlib.targets import QUIET_CORES, QUIET_WAIT_SECONDS

T = TypeVar("T")
RSS_POLL_SECONDS = 0.05


class Mark(NamedTuple):
    wall: float
    busy: float
    ours: float


class CpuWatch:
    """How busy the machine is outside the bench (other sessions, tests): the machine's busy
    time (steal included) minus the CPU time of the bench's own processes.

    Ours are the bench's process tree (the stack it started, work-horses included) counted
    with the CPU of their reaped children, so a horse that has ended is still counted once,
    through its parent; and the PostgreSQL backends of the bench's database, sampled every
    0.25 s because PostgreSQL's postmaster, not ours, reaps them (a backend that lives less
    than that may be missed, and its CPU counted as elsewhere). PostgreSQL's shared
    background processes (WAL writer, checkpointer) count as elsewhere."""

    def __init__(self, patient: bool = True) -> None:
        #: False (`--busy`): measure at once, once; figures then carry others' load.
        self.patient = patient
        self.database_name = ""
        self.me = psutil.Process()
        self.first = True
        self.base: dict[int, float] = {}  # pid -> CPU at first sight (0 if born since)
        self.tree: dict[int, float] = {}  # live processes of our tree -> CPU incl. children
        self.backends: dict[int, float] = {}  # our PostgreSQL backends, live or gone -> CPU
        self.kind: dict[int, bool] = {}  # pid -> is a backend of our database (settled pids)
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True, name="cpu-watch")

    def start(self, database_name: str) -> None:
        """Watch from now on; `database_name` is the bench's database (its backends are ours)."""
        self.database_name = database_name
        self.sample()
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()

    def _loop(self) -> None:
        while not self.stopped.wait(0.25):
            self.sample()

    def _seen(self, pid: int, used: float) -> None:
        self.base.setdefault(pid, used if self.first else 0.0)

    def sample(self) -> None:
        tree: dict[int, float] = {}
        for process in [self.me, *self.me.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                t = process.cpu_times()
                tree[process.pid] = t.user + t.system + t.children_user + t.children_system
        backends: dict[int, float] = {}
        for pid in psutil.pids():
            with contextlib.suppress(psutil.Error):
                if not self._is_backend(pid):
                    continue
                t = psutil.Process(pid).cpu_times()
                backends[pid] = t.user + t.system
        with self.lock:
            for pid, used in [*tree.items(), *backends.items()]:
                self._seen(pid, used)
            self.tree = tree
            self.backends.update(backends)
            self.first = False

    def _is_backend(self, pid: int) -> bool:
        """Whether `pid` is a backend of our database. A postgres process that names no
        database yet (forked, not yet authenticated) or none at all (checkpointer…) is
        looked at again next time."""
        if pid in self.kind:
            return self.kind[pid]
        process = psutil.Process(pid)
        if process.name() != "postgres":
            self.kind[pid] = False
            return False
        title = " ".join(process.cmdline())
        if self.database_name in title:
            self.kind[pid] = True
        elif title.startswith("postgres:") and title.count(" ") > 3:
            self.kind[pid] = False  # a backend of another database
        return self.kind.get(pid, False)

    def mark(self) -> Mark:
        self.sample()
        with self.lock:
            ours = sum(used - self.base[pid] for pid, used in self.tree.items())
            ours += sum(used - self.base[pid] for pid, used in self.backends.items())
        t = psutil.cpu_times()
        busy = t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0)
        return Mark(time.monotonic(), busy, ours)

    def wait_quiet(self, limit: float = QUIET_WAIT_SECONDS) -> None:
        """Wait (at most `limit` seconds) for a second with < 0.3 cores busy elsewhere."""
        deadline = time.monotonic() + limit
        told = False
        while time.monotonic() < deadline:
            mark = self.mark()
            time.sleep(1.0)
            busy = self.elsewhere(mark)
            if busy < QUIET_CORES:
                return
            if not told:
                print(f"  (waiting for the machine: {busy:.2f} cores busy elsewhere)", flush=True)
                told = True

    def cleanest(self, measure: Callable[[], T], tries: int = 3,
                 quiet: float = QUIET_CORES) -> tuple[T, float]:
        """Run `measure` once the machine is quiet; again (up to `tries` times in all) while
        other processes were busy during it; keep the least disturbed result, with the
        cores that were busy elsewhere meanwhile."""
        best: tuple[T, float] | None = None
        attempts = tries if self.patient else 1
        for attempt in range(1, attempts + 1):
            if self.patient:
                self.wait_quiet()
            mark = self.mark()
            value = measure()
            busy = self.elsewhere(mark)
            if best is None or busy < best[1]:
                best = (value, busy)
            if busy < quiet or attempt == attempts:
                break
            print(f"  (measured with {busy:.2f} cores busy elsewhere: once more)", flush=True)
        assert best is not None
        return best

    def elsewhere(self, since: Mark) -> float:
        """Average cores busy outside the bench since `since`."""
        now = self.mark()
        wall = now.wall - since.wall
        return max((now.busy - since.busy) - (now.ours - since.ours), 0.0) / wall if wall else 0



class RssWatch:
    """Peak RSS of some processes and of their children, polled every 50 ms in a thread.

    Children present when the watch starts are `resident` (e.g. RQ's scheduler); those that
    appear later are `new` (the work-horse forked for the job)."""

    def __init__(self, roots: list[int]) -> None:
        self.roots = [psutil.Process(pid) for pid in roots]
        self.resident = {p.pid for p in self._tree()}
        self.baseline = {p.pid: p.memory_info().rss for p in self._tree()}
        self.peak: dict[int, int] = dict(self.baseline)
        self.timeline: list[tuple[float, int]] = []  # (time, largest RSS of a new process)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True, name="rss-watch")

    def _tree(self) -> Iterator[psutil.Process]:
        for root in self.roots:
            with contextlib.suppress(psutil.Error):
                yield root
                yield from root.children(recursive=True)

    def _loop(self) -> None:
        while not self.stopped.is_set():
            self.poll()
            time.sleep(RSS_POLL_SECONDS)

    def poll(self) -> None:
        largest_new = 0
        for process in self._tree():
            with contextlib.suppress(psutil.Error):
                rss = process.memory_info().rss
                self.peak[process.pid] = max(self.peak.get(process.pid, 0), rss)
                if process.pid not in self.resident:
                    largest_new = max(largest_new, rss)
        self.timeline.append((time.time(), largest_new))

    def __enter__(self) -> RssWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join()
        self.poll()

    def new_peak(self) -> int:
        return max((rss for pid, rss in self.peak.items() if pid not in self.resident), default=0)

    def new_peak_until(self, moment: float) -> int:
        return max((rss for at, rss in self.timeline if at <= moment), default=0)

    def new_count(self) -> int:
        return sum(1 for pid in self.peak if pid not in self.resident)

    def largest_growth(self) -> tuple[int, int]:
        """(pid, peak − baseline) of the resident process that grew most."""
        return max(((pid, self.peak[pid] - base) for pid, base in self.baseline.items()),
                   key=lambda item: item[1])
