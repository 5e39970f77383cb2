"""What the bench prints: each figure against its target, the phase split of our runs, and
the machine and code measured."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import psutil
import psycopg
from redis import Redis

from benchlib.ours import OurRun
from validateur.config import PROJECT_ROOT as ROOT
from validateur.stack import OwnStack


@dataclass
class Figure:
    name: str
    value: str
    target: str = ""
    met: bool | None = None
    elsewhere: float | None = None
    #: For a missed target: the reason measured in this run, and the next design.
    why: str = ""


@dataclass
class Report:
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, value: str, target: str = "", met: bool | None = None,
            elsewhere: float | None = None, why: str = "") -> Figure:
        """One figure; `why` (a missed target's measured reason and next design) is printed
        only when `met` is False (and may be set later, from a figure measured after it:
        the summary after the table prints it)."""
        figure = Figure(name, value, target, met, elsewhere, why if met is False else "")
        self.figures.append(figure)
        shown = "" if met is None else ("  [met]" if met else "  [NOT MET]")
        print(f"  {name}: {value}{shown}", flush=True)
        if figure.why:
            print(f"    why: {figure.why}", flush=True)
        return figure

    def print(self) -> None:
        header = ("figure", "measured", "target", "met", "CPU busy elsewhere")
        rows = [(f.name, f.value, f.target, "" if f.met is None else ("yes" if f.met else "NO"),
                 "" if f.elsewhere is None else f"{f.elsewhere:.2f} cores")
                for f in self.figures]
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        print("-+-".join("-" * w for w in widths))
        for row in rows:
            print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        targets = [f for f in self.figures if f.met is not None]
        print(f"\n{sum(bool(f.met) for f in targets)} of {len(targets)} targets met.")
        for figure in targets:
            if figure.met is False:
                print(f"not met: {figure.name} ({figure.value}; target {figure.target})"
                      + (f"\n  why: {figure.why}" if figure.why else ""))
        for note in self.notes:
            print(f"note: {note}")


def seconds(value: float) -> str:
    return f"{value:.2f} s"


def rate(rows: int, elapsed: float) -> str:
    return f"{rows / elapsed:,.0f} rows/s" if elapsed > 0 else "-"



def print_splits(runs: dict[int, OurRun]) -> None:
    print("\nphase split of our runs (seconds from the previous mark):")
    for rows, run in runs.items():
        print(f"  {rows:,} rows ({run.findings:,} findings; client saw completed "
              f"after {run.seen:.2f} s):")
        for name, value in run.split:
            print(f"    {value:8.3f}  {name}")



def machine(stack: OwnStack) -> list[str]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        postgres = str(row[0]) if row else "?"
    redis_version = Redis.from_url(stack.redis.url).info().get("redis_version", "?")
    return [
        f"CPU: {os.cpu_count()} cores ({model or platform.machine()}); "
        f"memory {psutil.virtual_memory().total / 1024**3:.1f} GiB; "
        f"{platform.system()} {platform.release()}",
        f"Python {platform.python_version()}; PostgreSQL {postgres}; Redis {redis_version}; "
        f"frictionless {version('frictionless')}; psycopg {psycopg.__version__}",
        f"code: {code_version()}",
        "load average at start: " + " ".join(f"{x:.2f}" for x in os.getloadavg()),
    ]


def code_version() -> str:
    """The commit measured, and the files that differ from it (the stack runs the tree)."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    changed = [line[3:] for line in git("status", "--porcelain").splitlines()
               if line[3:].startswith(("validateur/", "jobs/", "migrations/"))]
    commit = git("log", "-1", "--format=%h %s")[:72] or "?"
    return commit + (f" + uncommitted changes in {', '.join(changed)}" if changed else "")

