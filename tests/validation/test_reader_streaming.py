"""The reader on generated exports: streaming, bounded memory, every sample variant."""

from __future__ import annotations

import importlib.util
import tracemalloc
from pathlib import Path
from types import ModuleType

import pytest

from validateur.validation.reader import BillingReader, sniff_file

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_sample_csv.py"


def _sample_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_sample_csv", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sample = _sample_module()


@pytest.fixture(scope="module")
def big_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "export.csv"
    sample.write_sample(path, 20_000, encoding="cp1252", delimiter=";", seed=3)
    return path


def test_iterating_the_first_row_does_not_read_the_whole_file(big_export: Path) -> None:
    with BillingReader(big_export) as reader:
        first = next(iter(reader))
        assert first.row_number == 1
        assert reader.total_bytes > 4_000_000
        assert 0 < reader.bytes_read < 1_000_000


def test_memory_stays_bounded_while_streaming(big_export: Path) -> None:
    tracemalloc.start()
    try:
        count = 0
        with BillingReader(big_export) as reader:
            for row in reader:
                count += 1 if row.patient_id else 0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 20_000
    # 20,000 rows kept in memory would take tens of MB; streaming keeps a few buffers.
    assert peak < 6_000_000


def test_progress_grows_to_the_file_size(big_export: Path) -> None:
    seen: list[int] = []
    with BillingReader(big_export) as reader:
        for row in reader:
            if row.row_number % 2_000 == 0:
                seen.append(reader.bytes_read)
        assert reader.bytes_read == reader.total_bytes
    assert seen == sorted(seen) and seen[0] < seen[-1]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
@pytest.mark.parametrize("delimiter", [",", ";"])
@pytest.mark.parametrize("short_rows", [False, True])
def test_every_sample_variant_reads_cleanly(
    tmp_path: Path, encoding: str, delimiter: str, short_rows: bool
) -> None:
    path = tmp_path / "sample.csv"
    sample.write_sample(path, 500, encoding, delimiter, seed=1, short_rows=short_rows)
    fmt = sniff_file(path)
    assert (fmt.encoding, fmt.delimiter, fmt.header_size) == (encoding, delimiter, 23)
    rows = list(BillingReader(path, fmt))
    assert [row.row_number for row in rows] == list(range(1, 501))
    assert all(row.problems == () for row in rows)
    assert any("É" in row.patient or "Ô" in row.patient for row in rows)
    assert all(row.patient_id.startswith("TEST") and len(row.patient_id) == 12 for row in rows)
    assert all(len(row.doctor) == 7 for row in rows)
    assert {"19928", "15804"} <= {row.code for row in rows}
    assert any("G160" in row.context for row in rows)
    assert any(row.montant_paye is not None and not row.is_paid for row in rows)


def test_sample_script_command_line(tmp_path: Path) -> None:
    out = tmp_path / "cli.csv"
    sample.main([str(out), "--rows", "40", "--encoding", "utf-8", "--delimiter", ","])
    assert len(list(BillingReader(out))) == 40
    again = tmp_path / "again.csv"
    sample.main([str(again), "--rows", "40", "--encoding", "utf-8", "--delimiter", ","])
    assert out.read_bytes() == again.read_bytes()
