"""Fuzzing the reader: whatever the bytes, it raises `UnusableFile` or yields rows, nothing else."""

from __future__ import annotations

import contextlib
import csv
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.csvfiles import HEADER, act, billing_csv
from validateur.validation.cells import parse_amount, parse_date, parse_time, parse_units
from validateur.validation.reader import BillingReader, UnusableFile, record_batches, sniff_file
from validateur.validation.rows import BillingRow

FUZZ = settings(max_examples=150, deadline=None)
_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=2_000)
_csvish = st.lists(
    st.sampled_from([";", ",", "\t", '"', "\r\n", "\n", "\r", " ", "49,15", "2025-03-10", "é",
                     "\x00", "\ufffd", "TEST00000001", "09:30", "", "#G160", "$"]),
    max_size=300,
).map("".join)  # fmt: skip


@pytest.fixture(scope="module")
def fuzz_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "fuzz.csv"


def read_all(path: Path) -> list[BillingRow] | UnusableFile:
    """Rows, or the UnusableFile raised; any other exception fails the test."""
    try:
        with BillingReader(path) as reader:
            rows = list(reader)
    except UnusableFile as exc:
        assert str(exc)
        return exc
    assert [row.row_number for row in rows] == list(range(1, len(rows) + 1))
    return rows


@FUZZ
@given(body=st.binary(max_size=4_000))
def test_arbitrary_bytes_after_a_valid_header(fuzz_file: Path, body: bytes) -> None:
    fuzz_file.write_bytes(";".join(HEADER).encode("cp1252") + b"\r\n" + body)
    read_all(fuzz_file)


@FUZZ
@given(body=st.one_of(_text, _csvish), encoding=st.sampled_from(["utf-8", "cp1252"]))
def test_arbitrary_text_after_a_valid_header(fuzz_file: Path, body: str, encoding: str) -> None:
    header = ",".join(HEADER) + "\n"
    fuzz_file.write_bytes((header + body).encode(encoding, errors="replace"))
    result = read_all(fuzz_file)
    if "\x00" not in body and body.isprintable() and body.count("\ufffd") < 16:
        assert isinstance(result, list)  # only dense U+FFFD or control characters are binary


@FUZZ
@given(content=st.binary(max_size=2_000))
def test_arbitrary_bytes_as_a_whole_file(fuzz_file: Path, content: bytes) -> None:
    fuzz_file.write_bytes(content)
    try:
        sniff_file(fuzz_file)
    except UnusableFile:
        return
    read_all(fuzz_file)


@FUZZ
@given(text=st.one_of(_text, _csvish))
def test_cell_parsers_return_or_raise_value_error(text: str) -> None:
    for parse in (parse_amount, parse_date, parse_time):
        with contextlib.suppress(ValueError):
            parse(text)
    parse_units(text)


def _csv_module_records(text: str, delimiter: str) -> list[list[str]] | type[csv.Error]:
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error:
        return csv.Error


def _split_records(text: str, delimiter: str,
                   batch: int = 500) -> list[list[str]] | type[csv.Error]:
    """Our records of `text`, batches flattened; csv.Error as a value, like the reference."""
    wrapper = io.TextIOWrapper(io.BytesIO(text.encode("utf-8")), encoding="utf-8", newline="")
    records: list[list[str]] = []
    try:
        for records_batch in record_batches(wrapper, delimiter, batch):
            records += records_batch
    except csv.Error:
        return csv.Error
    return records


@FUZZ
@given(text=_csvish, delimiter=st.sampled_from([";", ",", "\t"]), batch=st.integers(1, 4))
def test_the_fast_split_gives_the_records_the_csv_module_gives(text: str, delimiter: str,
                                                               batch: int) -> None:
    """Whatever the batch size, so batch ends also fall inside quoted cells spanning lines."""
    assert _split_records(text, delimiter, batch) == _csv_module_records(text, delimiter)


def test_a_quoted_cell_spanning_lines_is_one_record_between_plain_lines() -> None:
    text = 'a;b\r\n1;"deux\r\nlignes";3\r\n4;5\n6;7'
    assert _split_records(text, ";") == [["a", "b"], ["1", "deux\r\nlignes", "3"], ["4", "5"],
                                         ["6", "7"]]


@FUZZ
@given(spots=st.lists(st.tuples(st.integers(0, 39), st.integers(0, 10_000),
                                st.sampled_from(["\x00", "\x00\x00", "\ufffd"])),
                      min_size=1, max_size=40),
       delimiter=st.sampled_from([";", ","]))
def test_a_few_damaged_characters_per_row_are_never_binary(
    fuzz_file: Path, spots: list[tuple[int, int, str]], delimiter: str
) -> None:
    """A NUL, two, or a U+FFFD dropped anywhere into rows: every row is still read."""
    header, *lines = billing_csv([act(n) for n in range(1, 41)],
                                 delimiter=delimiter).decode().split("\r\n")
    for line_index, (at, damage) in {line: (at % 100, d) for line, at, d in spots}.items():
        line = lines[line_index]  # one damage per row
        lines[line_index] = line[:at] + damage + line[at:]
    fuzz_file.write_bytes("\r\n".join([header, *lines]).encode())
    result = read_all(fuzz_file)
    assert isinstance(result, list) and len(result) == 40
    assert not any("\x00" in row.patient + row.facture + row.diagnostic for row in result)
