"""Findings as CSV for Excel-fr (UTF-8 with BOM, `;` delimiter) and as an Excel workbook,
formulas neutralised in both.

People read the rule and scenario as French titles; the stable codes stay beside them, so a
spreadsheet can still be filtered on them. Amounts stay machine-readable for Excel-fr: a
decimal comma, two decimals, no grouping and no `$` (`-1234,56`), so Excel takes them as
numbers.

The file is streamed so a run with many findings never builds it in memory, but its first
batch is read in the view, before the response starts: a query that fails answers a clean
error status instead of a 200 followed by a truncated body. The rest is read while streaming
(Flask has closed the view's session by then, so it is a second query, from the first batch
on). A failure there (the database going away mid-export) ends the connection without the
last chunk, which every HTTP client reports as an incomplete download, and is logged as one
line without the SQL or its parameters.
"""

from __future__ import annotations

import csv
import io
import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any, BinaryIO

import xlsxwriter
from flask import Response, stream_with_context
from sqlalchemy import Select
from sqlalchemy.exc import SQLAlchemyError

from validateur import labels
from validateur.errors import ValidateurError
from validateur.extensions import db
from validateur.models import ValidationResult, ValidationRun
from validateur.validation.catalogue import rule_title, scenario_title
from validateur.validation.findings import Severity

log = logging.getLogger(__name__)

HEADER = ["Sévérité", "Règle", "Scénario", "Message", "Solution", "Lignes", "ID RAMQ",
          "Impact monétaire ($)", "Date", "Médecin", "Licence du médecin", "Personne",
          "Rangées de données", "Code de règle", "Code de scénario"]
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BATCH = 500


class ExportInterrupted(ValidateurError):
    """The export's query failed after the first bytes were sent (no SQL in the message)."""


def neutralise(cell: str) -> str:
    """Prefix a quote to a cell a spreadsheet would run as a formula (CSV injection)."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


#: The columns an export reads: rows of these, not ORM objects (4x less work per finding).
EXPORTED = (ValidationResult.severity, ValidationResult.rule, ValidationResult.scenario,
            ValidationResult.message, ValidationResult.solution, ValidationResult.rows,
            ValidationResult.id_ramq, ValidationResult.monetary_impact,
            ValidationResult.service_date, ValidationResult.doctor,
            ValidationResult.doctor_label, ValidationResult.person, ValidationResult.lines)


def spreadsheet_amount(finding: Any) -> str:
    """`-1234,56`: what Excel-fr reads as a number (no grouping, no currency sign)."""
    return f"{finding.monetary_impact:.2f}".replace(".", ",")


def numbers(values: list[int] | None) -> str:
    """`[5, 19]` → `5 19`: line or row numbers in one cell."""
    return " ".join(str(value) for value in values or [])


def finding_cells(finding: Any) -> list[str]:
    """One CSV line of a finding (an ORM object or a row of `EXPORTED`)."""
    cells = [
        labels.label(labels.SEVERITY, finding.severity), rule_title(finding.rule),
        scenario_title(finding.rule, finding.scenario), finding.message, finding.solution,
        numbers(finding.lines), " ".join(finding.id_ramq or []),
    ]
    day = finding.service_date.isoformat() if finding.service_date else ""
    described = [day, finding.doctor_label or "", finding.doctor or "", finding.person or "",
                 numbers(finding.rows), finding.rule, finding.scenario]
    return [neutralise(c) for c in cells] + [spreadsheet_amount(finding)] + [
        neutralise(c) for c in described]


def _csv_text(rows: Iterable[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";", lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def _rest(query: Select[Any], first: list[Any]) -> Iterator[Any]:
    if len(first) < BATCH:
        return iter(())
    return iter(db.session.execute(query.offset(BATCH).execution_options(yield_per=BATCH)))


def _chunks(what: str, query: Select[Any], first: list[Any], header: list[str],
            cells: Callable[[Any], list[str]]) -> Iterator[str]:
    yield "\ufeff" + _csv_text([header, *(cells(f) for f in first)])
    batch: list[list[str]] = []
    try:
        for finding in _rest(query, first):
            batch.append(cells(finding))
            if len(batch) == BATCH:
                yield _csv_text(batch)
                batch = []
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.error("export of %s interrupted: %s", what, type(exc).__name__)
        raise ExportInterrupted(f"export of {what} interrupted") from None
    if batch:
        yield _csv_text(batch)


def _download(what: str, columns: Select[Any], header: list[str],
              cells: Callable[[Any], list[str]], file_name: str) -> Response:
    first = list(db.session.execute(columns.limit(BATCH)))
    response = Response(stream_with_context(_chunks(what, columns, first, header, cells)),
                        mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{file_name}"'
    return response


def findings_csv_response(run: ValidationRun, query: Select[Any]) -> Response:
    """The CSV download; raises (clean error answer) if the query fails before any byte."""
    columns: Select[Any] = query.with_only_columns(*EXPORTED)  # type: ignore[assignment]
    return _download(f"run {run.id}", columns, HEADER, finding_cells,
                     f"validation-{run.id}-constats.csv")


#: A batch's export: the file each finding comes from, first.
BATCH_HEADER = ["Fichier", *HEADER]


def batch_finding_cells(finding: Any) -> list[str]:
    """One CSV line of a batch's finding: its run's file name, then the run export's cells."""
    return [neutralise(finding.file_name), *finding_cells(finding)]


def batch_findings_csv_response(batch_id: int, query: Select[Any]) -> Response:
    """Every finding of a batch, with a « Fichier » column (`query` joins the runs)."""
    columns: Select[Any] = query.with_only_columns(  # type: ignore[assignment]
        ValidationRun.file_name, *EXPORTED)
    return _download(f"batch {batch_id}", columns, BATCH_HEADER, batch_finding_cells,
                     f"lot-{batch_id}-constats.csv")


# --- Excel -----------------------------------------------------------------------------------

#: The « Constats » sheet: (header, width). Amounts are numbers, dates are dates.
XLSX_COLUMNS = (
    ("Sévérité", 13), ("Règle", 30), ("Scénario", 40), ("Date", 11), ("Médecin", 10),
    ("Licence du médecin", 10), ("Personne", 15), ("Lignes", 14), ("ID RAMQ", 16),
    ("Impact monétaire", 15), ("Message", 80), ("Solution", 60), ("Rangées de données", 14),
    ("Code de règle", 16), ("Code de scénario", 16),
)
#: A batch's workbook starts with the file each finding comes from.
FILE_COLUMN = ("Fichier", 30)
SUMMARY_COLUMNS = (("Sévérité", 13), ("Règle", 40), ("Constats", 10), ("Montant à risque", 16),
                   ("Gain potentiel", 16))
#: Shown by Excel-fr as `1 234,56 $` (number formats are written in the neutral locale).
CURRENCY_FORMAT = '#,##0.00 "$";-#,##0.00 "$"'
DATE_FORMAT = "yyyy-mm-dd"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Bytes per chunk of the streamed workbook.
CHUNK_BYTES = 64 * 1024


def write_workbook(target: BinaryIO, findings: Iterable[Any],
                   groups: list[dict[str, Any]], *, with_file: bool = False) -> int:
    """Write the workbook to `target` in constant memory; the number of findings written.

    XlsxWriter's `constant_memory` mode flushes each row to a temporary file as soon as the
    next one starts, so memory does not grow with the number of findings; text goes through
    `write_string` (never read as a formula) after `neutralise`, like the CSV. `with_file`
    (a batch's workbook) puts a « Fichier » column first, read from each row's `file_name`.
    """
    book = xlsxwriter.Workbook(target, {"constant_memory": True, "in_memory": False,
                                        "strings_to_formulas": False,
                                        "strings_to_urls": False})
    bold = book.add_format({"bold": True, "text_wrap": True, "valign": "top"})
    money = book.add_format({"num_format": CURRENCY_FORMAT})
    day = book.add_format({"num_format": DATE_FORMAT})
    sheet = book.add_worksheet("Constats")
    summary = book.add_worksheet("Résumé")
    columns = (FILE_COLUMN, *XLSX_COLUMNS) if with_file else XLSX_COLUMNS
    _header(sheet, columns, bold)
    count = 0
    for count, finding in enumerate(findings, 1):
        if with_file:
            sheet.write_string(count, 0, neutralise(finding.file_name))
        _finding_row(sheet, count, finding, money, day, 1 if with_file else 0)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(count, 1), len(columns) - 1)
    _summary(summary, groups, bold, money)
    book.close()
    return count


def _header(sheet: Any, columns: tuple[tuple[str, int], ...], bold: Any) -> None:
    for col, (title, width) in enumerate(columns):
        sheet.set_column(col, col, width)
        sheet.write_string(0, col, title, bold)


def _finding_row(sheet: Any, row: int, finding: Any, money: Any, day: Any,
                 first: int = 0) -> None:
    """A finding's cells from column `first` on (after the « Fichier » of a batch)."""
    texts = [
        labels.label(labels.SEVERITY, finding.severity), rule_title(finding.rule),
        scenario_title(finding.rule, finding.scenario),
    ]
    for col, value in enumerate(texts):
        sheet.write_string(row, first + col, neutralise(value))
    if finding.service_date:
        sheet.write_datetime(row, first + 3, finding.service_date, day)
    for col, value in ((4, finding.doctor_label), (5, finding.doctor), (6, finding.person),
                       (7, numbers(finding.lines)), (8, " ".join(finding.id_ramq or []))):
        if value:
            sheet.write_string(row, first + col, neutralise(value))
    sheet.write_number(row, first + 9, float(finding.monetary_impact), money)
    for col, value in ((10, finding.message), (11, finding.solution),
                       (12, numbers(finding.rows)), (13, finding.rule), (14, finding.scenario)):
        if value:
            sheet.write_string(row, first + col, neutralise(value))


def _summary(sheet: Any, groups: list[dict[str, Any]], bold: Any, money: Any) -> None:
    """Counts and amounts per severity and rule, then one total line per severity."""
    _header(sheet, SUMMARY_COLUMNS, bold)
    row = 0
    totals: dict[Severity, list[Any]] = {}
    for group in groups:
        row += 1
        severity = Severity(group["severity"])
        _summary_row(sheet, row, labels.label(labels.SEVERITY, severity),
                     rule_title(group["rule"]), group, money)
        total = totals.setdefault(severity, [0, Decimal(0), Decimal(0)])
        total[0] += group["count"]
        total[1] += group["atRisk"]
        total[2] += group["toGain"]
    row += 1
    for severity in Severity:
        if severity in totals:
            row += 1
            count, risk, gain = totals[severity]
            _summary_row(sheet, row, labels.label(labels.SEVERITY, severity), "Total",
                         {"count": count, "atRisk": risk, "toGain": gain}, money)


def _summary_row(sheet: Any, row: int, severity: str, rule: str, group: dict[str, Any],
                 money: Any) -> None:
    sheet.write_string(row, 0, severity)
    sheet.write_string(row, 1, rule)
    sheet.write_number(row, 2, group["count"])
    sheet.write_number(row, 3, float(group["atRisk"]), money)
    sheet.write_number(row, 4, float(group["toGain"]), money)


def _file_chunks(handle: BinaryIO) -> Iterator[bytes]:
    """The workbook's bytes, then the (already unlinked) temporary file closed."""
    try:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk
    finally:
        handle.close()


def findings_xlsx_response(run: ValidationRun, query: Select[Any],
                           groups: list[dict[str, Any]]) -> Response:
    """The Excel download of a run (see `_workbook_response`)."""
    columns: Select[Any] = query.with_only_columns(*EXPORTED)  # type: ignore[assignment]
    return _workbook_response(columns, groups, f"validation-{run.id}-constats.xlsx")


def batch_findings_xlsx_response(batch_id: int, query: Select[Any],
                                 groups: list[dict[str, Any]]) -> Response:
    """Every finding of a batch as a workbook, « Fichier » first (`query` joins the runs)."""
    columns: Select[Any] = query.with_only_columns(  # type: ignore[assignment]
        ValidationRun.file_name, *EXPORTED)
    return _workbook_response(columns, groups, f"lot-{batch_id}-constats.xlsx",
                              with_file=True)


def _workbook_response(columns: Select[Any], groups: list[dict[str, Any]], file_name: str,
                       *, with_file: bool = False) -> Response:
    """The Excel download: built in a temporary file (constant memory), then streamed.

    The whole workbook is written before the answer starts, so a failing query is a clean
    error status; the file is unlinked at once (only its open handle keeps it) and closed
    when the last chunk is sent or the client goes away.
    """
    handle = tempfile.TemporaryFile()  # noqa: SIM115 (closed by `_file_chunks`)
    try:
        rows = db.session.execute(columns.execution_options(yield_per=BATCH))
        write_workbook(handle, rows, groups, with_file=with_file)
        handle.seek(0)
    except BaseException:
        handle.close()
        raise
    response = Response(_file_chunks(handle), mimetype=XLSX_MIMETYPE, direct_passthrough=True)
    response.headers["Content-Disposition"] = f'attachment; filename="{file_name}"'
    return response
