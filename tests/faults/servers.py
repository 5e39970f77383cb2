"""Servers a fault test may pause: a throwaway PostgreSQL cluster, and SIGSTOP/SIGCONT helpers.

A paused server is the hang that timeouts must survive: its port still accepts TCP
connections (the kernel completes the handshake) and acknowledges what is sent, but nothing
answers. The machine's shared PostgreSQL on 5432 is never paused: the cluster here is made
with `initdb` in a temporary directory, on a free loopback port, and removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from validateur.stack import free_port, wait_for_port

#: Where PostgreSQL's server programs are, newest first; pgserver's bundled ones last.
_BIN_CANDIDATES = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def _postgres_bin() -> Path:
    for candidate in _BIN_CANDIDATES:
        if (candidate / "initdb").exists():
            return candidate
    import pgserver  # its bundled binaries

    return Path(pgserver.__file__).parent / "pginstall" / "bin"


def _run_as() -> str | None:
    """PostgreSQL refuses to run as root: run it as the `postgres` system user then."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres").pw_name
    except KeyError:
        return "pgserver"  # the user pgserver creates for the same reason


@dataclass
class ThrowawayPostgres:
    """A PostgreSQL cluster of its own on 127.0.0.1, fast to make (fsync off), paused at will."""

    port: int = field(default_factory=free_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="validateur-pg-")))

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> str:
        user = _run_as()
        if user:
            record = pwd.getpwnam(user)
            os.chown(self.root, record.pw_uid, record.pw_gid)
        binaries = _postgres_bin()
        if not (self.data / "PG_VERSION").exists():
            subprocess.run([str(binaries / "initdb"), "-D", str(self.data), "-U", "postgres",
                            "--auth=trust", "--encoding=UTF8", "--no-sync"],
                           check=True, capture_output=True, user=user)
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        subprocess.run([str(binaries / "pg_ctl"), "-D", str(self.data), "-w", "-o", options,
                        "-l", str(self.root / "log"), "start"],
                       check=True, capture_output=True, user=user)
        wait_for_port(self.port)
        return self.url

    def processes(self) -> list[psutil.Process]:
        """The postmaster and every backend: pausing only the postmaster would leave
        established connections answering."""
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        postmaster = psutil.Process(pid)
        return [postmaster, *postmaster.children(recursive=True)]

    def stop(self) -> None:
        for process in self.processes_or_none():
            with contextlib.suppress(psutil.Error):
                process.send_signal(signal.SIGCONT)
        subprocess.run([str(_postgres_bin() / "pg_ctl"), "-D", str(self.data), "-m",
                        "immediate", "stop"], capture_output=True, user=_run_as())
        shutil.rmtree(self.root, ignore_errors=True)

    def processes_or_none(self) -> list[psutil.Process]:
        try:
            return self.processes()
        except (OSError, ValueError, psutil.Error):
            return []


@contextlib.contextmanager
def paused(processes: list[psutil.Process]) -> Iterator[None]:
    """SIGSTOP the processes for the block, SIGCONT them after (whatever happens)."""
    for process in processes:
        process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for process in reversed(processes):
            with contextlib.suppress(psutil.Error):
                process.send_signal(signal.SIGCONT)
