"""The job's pass streams: however long the file, only a bounded number of rows is alive.

The job's own code path (`_copy_and_feed`: reader → COPY batches + every rule) runs on a real
PostgreSQL transaction with all the rules, plus one probe rule that counts the `BillingRow`
objects still alive every few thousand rows. A pass that kept its rows (a list, an unflushed
COPY buffer, a rule holding rows) would show a count growing with the file.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from pathlib import Path

import pytest
from flask import Flask

from jobs.progress import ProgressReporter
from jobs.validation import _copy_and_feed
from tests.support.csvfiles import sample_file
from tests.support.runs import make_run
from validateur import records
from validateur.validation.engine import Engine, ReferenceData
from validateur.validation.findings import Finding
from validateur.validation.rows import BillingRow
from validateur.validation.rules import build_rules

PROBE_EVERY = 4_000


def _live_rows() -> int:
    return sum(1 for o in gc.get_objects() if type(o) is BillingRow)


class LiveRowsProbe:
    """A rule that reads every row and, now and then, counts the rows alive in the process."""

    slug = "probe"

    def __init__(self) -> None:
        self.fed = 0
        self.samples: list[int] = []
        # Rows other tests of this process still hold (module constants, caches) are not
        # this pass's: only the rows alive beyond them count.
        gc.collect()
        self.before = _live_rows()

    def feed(self, row: BillingRow) -> None:
        self.fed += 1
        if self.fed % PROBE_EVERY == 0:
            self.samples.append(_live_rows() - self.before)

    def finish(self) -> Iterable[Finding]:
        return ()


def _pass(app: Flask, path: Path) -> LiveRowsProbe:
    probe = LiveRowsProbe()
    engine = Engine([*build_rules(ReferenceData()), probe])
    with app.app_context():
        run_id = make_run("processing", file_name=path.name, stored_name="stored",
                          file_size=path.stat().st_size, encoding="cp1252", delimiter=";")
        with records.run_transaction(run_id) as writer:
            rows = _copy_and_feed(path, writer, engine, ProgressReporter(run_id, None))
            assert writer.rows_written == rows
    assert probe.fed == rows
    return probe


@pytest.mark.parametrize("rows", [12_000, 36_000])
def test_rows_alive_during_the_pass_stay_under_one_copy_batch(app: Flask, tmp_path: Path,
                                                              rows: int) -> None:
    probe = _pass(app, sample_file(tmp_path / "export.csv", rows))
    assert len(probe.samples) == rows // PROBE_EVERY
    # One COPY batch, the row in hand and the reader's current row: never the file.
    assert max(probe.samples) <= records.BATCH_ROWS + 2
