"""The pass's memory grows with the groups of a file, not with its rows.

A block of realistic rows (scripts/make_sample_csv.py) is repeated 2 and then 8 times: the same
doctors, days, patients and claims, only more rows per group. Every rule (codes table and GMF
list included, so that every rule keeps state) is fed through the reader's batches with the
cyclic collector paused, as in the job, and `tracemalloc` reads what the engine still holds
after the last row and the peak while its findings are produced. The extra memory per extra row
must stay far under what keeping rows would cost: the reference is measured here, the bytes a
`BillingRow` of this very file holds when kept. What may grow per row is what the findings
must name (each row of a duplicated claim, each act of an over-billed group), a few bytes each.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

from tests.support.csvfiles import sample_file
from validateur.validation.engine import Engine, ReferenceData
from validateur.validation.reader import BATCH_RECORDS, BillingReader
from validateur.validation.rows import BillingRow
from validateur.validation.rules import build_rules

BLOCK_ROWS = 3_000
FEW, MANY = 2, 8
#: Extra bytes per extra row allowed, as a share of what keeping one row costs.
MAX_SHARE_OF_A_ROW = 0.10
#: The sample's codes (all known) and its cabinets: every rule then keeps state.
REFERENCE = ReferenceData(
    known_codes=frozenset({"15804", "15808", "15815", "15819", "8875", "8857", "8859", "00093",
                           "19928", "19929"}),
    consultation_codes=frozenset({"15804", "15808", "00093"}),
    gmf_establishments=frozenset({"50001", "50213"}),
)


def repeated(block: Path, times: int, out: Path) -> Path:
    """The header of `block`, then its data lines `times` times (same groups, more rows)."""
    header, *lines = block.read_bytes().splitlines(keepends=True)
    out.write_bytes(header + b"".join(lines) * times)
    return out


def rows_of(path: Path) -> Iterator[BillingRow]:
    with BillingReader(path) as reader:
        for batch in reader.batches(BATCH_RECORDS):
            yield from batch


def engine_memory(path: Path) -> tuple[int, int, int]:
    """(rows, bytes held after the last row, peak bytes while the findings are produced)."""
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        engine = Engine(build_rules(REFERENCE))
        rows = 0
        for row in rows_of(path):
            engine.feed(row)
            rows += 1
        held = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        findings = sum(1 for _ in engine.stream())
        peak = tracemalloc.get_traced_memory()[1]
        assert findings > 0
        del engine
    finally:
        tracemalloc.stop()
        gc.enable()
    return rows, held, peak


def bytes_per_kept_row(path: Path) -> float:
    """What keeping the rows of `path` costs per row (the reference a leak would show)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = list(rows_of(path))
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return held / len(kept)


def test_the_engine_holds_per_group_state_not_rows(tmp_path: Path) -> None:
    block = sample_file(tmp_path / "block.csv", BLOCK_ROWS)
    few_rows, few_held, few_peak = engine_memory(repeated(block, FEW, tmp_path / "few.csv"))
    many_rows, many_held, many_peak = engine_memory(repeated(block, MANY, tmp_path / "many.csv"))
    assert (few_rows, many_rows) == (FEW * BLOCK_ROWS, MANY * BLOCK_ROWS)

    row_cost = bytes_per_kept_row(block)
    extra_rows = many_rows - few_rows
    held_per_row = (many_held - few_held) / extra_rows
    peak_per_row = (many_peak - few_peak) / extra_rows
    allowed = MAX_SHARE_OF_A_ROW * row_cost
    assert row_cost > 500  # the reference itself: a kept row is hundreds of bytes
    print(f"kept row {row_cost:.0f} B; per extra row: held {held_per_row:.1f} B, "
          f"peak {peak_per_row:.1f} B")
    assert held_per_row < allowed, (held_per_row, row_cost)
    assert peak_per_row < allowed, (peak_per_row, row_cost)
