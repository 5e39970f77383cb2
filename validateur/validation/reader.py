"""The streaming reader: a billing CSV file in, typed `BillingRow`s out, in constant memory.

`sniff_file` decides once whether a file is usable and how it is written (encoding, delimiter,
where the header is, header mapping); it reads the head of the file, plus the binary scan for
the first non-ASCII byte described in `encoding.py`. `BillingReader` then streams the rows: a
binary file, a `TextIOWrapper` (`newline=""`, `errors="replace"`), lines of bounded length
split into cells (`marked_batches`: `str.split`, or the `csv` module for a line with quotes),
and a row builder (`rowbuilder.py`) that turns cells into typed values. The variants accepted
and what users see for each are described in docs/file-format.md.

Failures, all with French messages and no cell values:

- `UnusableFile` from `sniff_file`: empty, binary, UTF-16, undecodable, no header (or one too
  far down), required columns missing;
- `UnusableFile` while iterating: a line longer than `MAX_LINE_CHARS`, a field longer than
  `MAX_FIELD_CHARS` (typically a quote never closed), or binary content after good rows, naming
  the last good data-row number;
- a bad cell or a row with extra cells: a `RowProblem` on that row, never an exception. A NUL
  (which PostgreSQL text cannot hold) is removed from its cell and a U+FFFD (an undecodable
  byte, or a file damaged earlier) is kept; both leave an `invalid-character` problem naming
  the column. Only lines holding one pay for this: the check is `in` on each line.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from itertools import chain
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from validateur.formatting import integer
from validateur.validation.encoding import (
    BINARY_MESSAGE,
    HEAD_BYTES,
    check_text,
    detect_encoding,
    is_binary_record,
    looks_binary,
    text_part,
)
from validateur.validation.headers import find_header
from validateur.validation.rowbuilder import row_builder
from validateur.validation.rows import BillingRow, Column, Problem, RowProblem
from validateur.validation.unusable import UnusableFile

__all__ = ["BillingReader", "FileFormat", "UnusableFile", "sniff_file"]

#: Longest physical line accepted; longer means the file is not a billing export.
MAX_LINE_CHARS = 1_000_000
#: csv field size limit (a quoted field may span lines); process-wide, only ever raised.
MAX_FIELD_CHARS = 10_000_000


@dataclass(frozen=True)
class FileFormat:
    """How a file is written: `header_size` is the number of cells of its header line,
    `header_index` the number of records before it (`sep=` line, title and blank lines)."""

    encoding: str
    delimiter: str
    columns: dict[Column, int]
    header_size: int
    header_index: int = 0


def sniff_file(path: Path) -> FileFormat:
    """Check that `path` is a usable billing file and describe it; raises `UnusableFile`.

    A head dense in control bytes is binary; when it starts with a valid header and rows,
    the rows of the head are read to name the last good one before the binary content.
    """
    with path.open("rb") as binary:
        size = os.fstat(binary.fileno()).st_size
        head = binary.read(HEAD_BYTES)
        check_text(head)
        dense = looks_binary(head)
        try:
            if dense:  # judged on the text before the binary content, which is then read
                encoding = detect_encoding(text_part(head), io.BytesIO())
            else:
                encoding = detect_encoding(head, binary)
            fmt = _describe(head, encoding, whole=len(head) >= size)
        except UnusableFile:
            if dense:
                raise UnusableFile(BINARY_MESSAGE) from None
            raise
    if dense:
        _read_head_rows(path, fmt)
    return fmt


def _describe(head: bytes, encoding: str, *, whole: bool) -> FileFormat:
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head, final=whole)
    if not whole and "\n" not in text and "\r" not in text:
        raise UnusableFile(
            "Aucune ligne d'en-tête : la première ligne du fichier dépasse 64 Ko, "
            "ce n'est pas un export CSV de facturation."
        )
    header = find_header(text)
    return FileFormat(encoding, header.delimiter, header.columns, header_size=len(header.cells),
                      header_index=header.index)


def _read_head_rows(path: Path, fmt: FileFormat) -> None:
    """Read the rows of the head: binary content there raises `UnusableFile` naming a row."""
    with BillingReader(path, fmt) as reader:
        for _ in reader.batches():
            if reader.bytes_read >= HEAD_BYTES:
                return


class _LineTooLong(Exception):
    """A physical line longer than `MAX_LINE_CHARS` (internal, becomes `UnusableFile`)."""


class _BinaryContent(Exception):
    """A record that is binary content (internal, becomes `UnusableFile`)."""

    def __init__(self, last_good: int) -> None:
        super().__init__(last_good)
        self.last_good = last_good


class _QuotedLines:
    """The lines the csv module reads: one pushed line, then continuation lines if needed.

    A quoted cell may span lines; the csv module then pulls the next physical lines from
    here, bounded like every other line. `damaged` tells that one of those continuation
    lines held a NUL or a U+FFFD.
    """

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self.pending: str | None = None
        self.damaged = False

    def __iter__(self) -> _QuotedLines:
        return self

    def __next__(self) -> str:
        line = self.pending
        if line is None:
            line = _bounded(next(self._lines))
            if "\0" in line or "\ufffd" in line:
                self.damaged = True
        self.pending = None
        return line


def _bounded(line: str) -> str:
    """`line`, unless it is a piece of a line longer than `MAX_LINE_CHARS`."""
    if len(line) >= MAX_LINE_CHARS and line[-1] not in "\r\n":
        raise _LineTooLong
    return line


#: Records (then rows) handed on together: the consumer's per-row work is a plain loop over
#: a list, not a generator resumed per row (1,000,000 rows read, COPYed and fed, without
#: PostgreSQL: 8.0 → 7.1 s of CPU).
BATCH_RECORDS = 500


def marked_batches(text: io.TextIOWrapper, delimiter: str, size: int = BATCH_RECORDS
                   ) -> Iterator[tuple[list[list[str]], list[int]]]:
    """The records of `text` (opened with `newline=""`), `size` at a time, exactly as
    `csv.reader` gives them, each batch with the positions of its damaged records.

    Most lines of a billing export hold no quote: for those a plain `str.split` gives the
    same cells as the csv module, faster (reading 1,000,000 rows: 4.1 s → 3.4 s). A line with
    a quote goes to one csv reader, which may pull continuation lines. A record is damaged
    when one of its lines holds a NUL or a U+FFFD (two C-speed `in` per line; such a line
    also goes to the csv reader, which keeps NULs in cells). Lines are read with a length
    bound, so one endless line cannot fill the memory. On a line too long or a csv error,
    the records before it come first, then the error: the consumer knows the last good record.
    """
    lines = iter(partial(text.readline, MAX_LINE_CHARS), "")
    quoted_lines = _QuotedLines(lines)
    quoted = csv.reader(quoted_lines, delimiter=delimiter)
    batch: list[list[str]] = []
    damaged: list[int] = []
    try:
        for line in lines:
            if "\0" in line or "\ufffd" in line:
                damaged.append(len(batch))
                quoted_lines.pending = _bounded(line)
                batch.append(next(quoted))
                quoted_lines.damaged = False
            elif '"' in line or len(line) >= MAX_LINE_CHARS:
                quoted_lines.pending = _bounded(line)
                batch.append(next(quoted))
                if quoted_lines.damaged:
                    damaged.append(len(batch) - 1)
                    quoted_lines.damaged = False
            else:
                body = line.rstrip("\r\n")
                batch.append(body.split(delimiter) if body else [])
            if len(batch) >= size:
                yield batch, damaged
                batch, damaged = [], []
    except (_LineTooLong, csv.Error):
        if batch:
            yield batch, damaged
        raise
    if batch:
        yield batch, damaged


def record_batches(text: io.TextIOWrapper, delimiter: str,
                   size: int = BATCH_RECORDS) -> Iterator[list[list[str]]]:
    """The records of `marked_batches` without the marks."""
    for batch, _ in marked_batches(text, delimiter, size):
        yield batch


_Build = Callable[[int, list[str], int], BillingRow | None]


def _build_rows(build: _Build, records: list[list[str]], rows: list[BillingRow],
                row_number: int, first_line: int) -> int:
    """Build the rows of clean records into `rows`; the last row number given.

    `first_line` is the file line of `records[0]`: each record is one line as a spreadsheet
    shows it, so the line of a record is a plain counter (no cost per physical line).
    """
    for line, cells in enumerate(records, first_line):
        row = build(row_number + 1, cells, line)
        if row is not None:
            row_number += 1
            rows.append(row)
    return row_number


class _Repair:
    """Damaged records: binary content stops the file; otherwise NULs go, problems stay.

    A record with a NUL or a U+FFFD is checked once (`is_binary_record`); NULs are removed
    from its cells (PostgreSQL text cannot hold them) and each known column holding one of
    those characters gets an `invalid-character` problem. A U+FFFD is kept: it is what the
    decoder left for an undecodable byte, or what a file damaged earlier already held, and
    either way the text of that cell is not what was typed. Damage in a column the service
    neither stores nor reads is removed without a problem.
    """

    def __init__(self, columns: dict[Column, int]) -> None:
        self._columns = sorted(columns.items(), key=lambda item: item[1])
        self._problems = {column: RowProblem(Problem.INVALID_CHARACTER, column)
                          for column in columns}

    def build(self, build: _Build, cells: list[str], row_number: int, before: list[BillingRow],
              rows: list[BillingRow], line: int) -> BillingRow | None:
        """The row of one damaged record; `before` and `rows` are the rows read just before."""
        joined = "".join(cells)
        if is_binary_record(joined):
            raise _BinaryContent(_last_good(rows, before, row_number))
        damaged = tuple(
            self._problems[column] for column, index in self._columns
            if index < len(cells) and ("\0" in cells[index] or "\ufffd" in cells[index])
        )
        if "\0" in joined:
            cells = [cell.replace("\0", "") for cell in cells]
        row = build(row_number + 1, cells, line)
        if row is not None and damaged:
            row.problems = row.problems + damaged
        return row


def _last_good(rows: list[BillingRow], before: list[BillingRow], row_number: int) -> int:
    """The last row read before binary content, skipping the garbage rows just before it.

    Garbage read as rows (a short piece of binary without NUL) is damaged or has no date; a
    billing row always has one. Only the current and the previous batch are looked at.
    """
    last = row_number
    for row in chain(reversed(rows), reversed(before)):
        damaged = any(p.problem is Problem.INVALID_CHARACTER for p in row.problems)
        if row.date_service is not None and not damaged:
            return row.row_number
        last = row.row_number - 1
    return last


class BillingReader:
    """Stream the typed rows of a billing file.

    ```
    with BillingReader(path) as reader:
        for row in reader:
            progress(reader.bytes_read / reader.total_bytes)
    ```

    Rows are numbered from 1, blank rows skipped and not counted; each row also knows its
    `line` in the file (every record counted, as a spreadsheet numbers them). Iterating opens
    the file; leaving the `with` block (or exhausting the iteration) closes it. `batches()`
    gives the same rows in bounded lists, for a consumer that handles them in bulk (the job's
    COPY).
    """

    def __init__(self, path: Path, fmt: FileFormat | None = None) -> None:
        self.path = path
        self.format = fmt if fmt is not None else sniff_file(path)
        self.total_bytes = path.stat().st_size
        self._binary: BinaryIO | None = None
        self._stopped_at = 0

    def __enter__(self) -> BillingReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the file if an iteration left it open."""
        if self._binary is not None:
            self._binary.close()

    @property
    def bytes_read(self) -> int:
        """Approximate bytes consumed so far (position of the binary file), for progress."""
        binary = self._binary
        if binary is None or binary.closed:
            return self._stopped_at
        return min(binary.tell(), self.total_bytes)

    def __iter__(self) -> Iterator[BillingRow]:
        for batch in self.batches():
            yield from batch

    def batches(self, size: int = BATCH_RECORDS) -> Iterator[list[BillingRow]]:
        """The rows, in lists of at most `size` (the job's loop: one list per COPY batch)."""
        self.close()
        self._stopped_at = 0
        binary = self._binary = self.path.open("rb")
        with io.TextIOWrapper(
            binary, encoding=self.format.encoding, errors="replace", newline=""
        ) as text:
            try:
                yield from self._row_batches(text, size)
            finally:
                self._stopped_at = min(binary.tell(), self.total_bytes)

    def _row_batches(self, text: io.TextIOWrapper, size: int) -> Iterator[list[BillingRow]]:
        if csv.field_size_limit() < MAX_FIELD_CHARS:
            csv.field_size_limit(MAX_FIELD_CHARS)
        fmt = self.format
        build = row_builder(fmt.columns, fmt.header_size)
        repair = _Repair(fmt.columns)
        skip = fmt.header_index + 1  # the lines before the header, and the header
        row_number = 0
        line = 1  # the file line of the next record
        before: list[BillingRow] = []
        try:
            for records, damaged in marked_batches(text, fmt.delimiter, size):
                if skip:
                    cut = min(skip, len(records))
                    skip -= cut
                    records = records[cut:]
                    damaged = [index - cut for index in damaged if index >= cut]
                    line += cut
                rows: list[BillingRow] = []
                if not damaged:
                    row_number = _build_rows(build, records, rows, row_number, line)
                else:
                    start = 0
                    for index in damaged:
                        row_number = _build_rows(build, records[start:index], rows, row_number,
                                                 line + start)
                        try:
                            row = repair.build(build, records[index], row_number, before, rows,
                                               line + index)
                        except _BinaryContent:
                            if rows:
                                yield rows  # the rows before it come first, then the error
                            raise
                        if row is not None:
                            row_number += 1
                            rows.append(row)
                        start = index + 1
                    row_number = _build_rows(build, records[start:], rows, row_number,
                                             line + start)
                line += len(records)
                if rows:
                    before = rows
                    yield rows
        except _LineTooLong:
            raise UnusableFile(
                f"La ligne qui suit la ligne de données {row_number} dépasse "
                f"{integer(MAX_LINE_CHARS)} caractères : ce n'est pas un export CSV de "
                "facturation."
            ) from None
        except csv.Error as exc:
            reason = (
                "un champ dépasse la taille maximale (guillemet jamais refermé ?)"
                if "larger than field limit" in str(exc)
                else "format CSV invalide"
            )
            raise UnusableFile(
                f"Ligne illisible après la ligne de données {row_number} : {reason}."
            ) from None
        except _BinaryContent as exc:
            raise UnusableFile(binary_content_message(exc.last_good)) from None


def binary_content_message(last_good: int) -> str:
    """The French refusal of a file whose text turns into binary content after `last_good`."""
    where = (f"après la ligne de données {last_good}" if last_good
             else "juste après la ligne d'en-tête")
    return (
        f"Contenu binaire {where} : la suite du fichier n'est pas du texte (fichier endommagé, "
        "tronqué ou suivi d'un autre fichier). Exportez à nouveau le rapport « Facturation "
        "journalière » en CSV."
    )
