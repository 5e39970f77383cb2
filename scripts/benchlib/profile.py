"""`--profile`: one more run of the largest file with py-spy attached to the workers (and
their work-horses), not timed; prints where the work-horse spends its time."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from benchlib.ours import ours
from validateur.config import PROJECT_ROOT as ROOT
from validateur.stack import OwnStack


def profile(stack: OwnStack, path: Path, rows: int, out: Path) -> None:
    """One more run of `path` with py-spy attached to the workers (and their horses)."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        print("py-spy is not installed: .venv/bin/pip install py-spy")
        return
    spies = []
    for index, worker in enumerate(stack.live_workers()):
        raw = out / f"profile-{index}.txt"
        spies.append((raw, subprocess.Popen(
            [spy, "record", "--pid", str(worker.pid), "--subprocesses", "--rate", "200",
             "--format", "raw", "--output", str(raw), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    time.sleep(1.0)
    run = ours(stack, path, rows)
    for _, process in spies:
        process.send_signal(signal.SIGINT)
    for _, process in spies:
        process.wait(60)
    print(f"\nprofiled run: {run.status} in {run.e2e:.2f} s (py-spy attached, not a figure)")
    summarise_profile([raw for raw, _ in spies if raw.exists()])


def _frame(frame: str) -> str:
    """`validate_run (jobs/validation.py:42)` → `validate_run (jobs/validation.py)`."""
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0].rstrip(")")
    for prefix in (str(ROOT) + "/", "/usr/lib/python3", str(Path(sys.prefix))):
        file = file.removeprefix(prefix)
    return f"{name} ({file})" if file else name


def summarise_profile(files: list[Path]) -> None:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = progress = 0
    for file in files:
        for line in file.read_text(errors="replace").splitlines():
            stack_text, _, count_text = line.rpartition(" ")
            if not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [_frame(f) for f in stack_text.split(";")
                      if " (" in f and not f.startswith(("process ", "thread "))]
            if not frames:
                continue
            total += count
            own[frames[-1]] += count
            for name in set(frames):
                inclusive[name] += count
            if any(name.startswith("ProgressReporter.") for name in frames):
                progress += count
    if not total:
        print("py-spy recorded nothing (is ptrace allowed?)")
        return
    print(f"\nwhere the worker spends its time ({total} samples, 200/s):")
    print("  self time:")
    for name, count in own.most_common(20):
        print(f"    {100 * count / total:5.1f} %  {name}")
    print("  inclusive (validateur/ and jobs/ functions):")
    shown = [(n, c) for n, c in inclusive.most_common()
             if "validateur/" in n or "jobs/" in n or "/psycopg/" in n]
    for name, count in shown[:30]:
        print(f"    {100 * count / total:5.1f} %  {name}")
    print(f"  progress reporting (ProgressReporter.*): {100 * progress / total:.1f} % "
          "of the samples")

