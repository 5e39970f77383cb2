"""Findings as CSV for Excel-fr: UTF-8 with BOM, `;` delimiter, formulas neutralised.

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
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Response, stream_with_context
from sqlalchemy import Select
from sqlalchemy.exc import SQLAlchemyError

from validateur import labels
from validateur.errors import ValidateurError
from validateur.extensions import db
from validateur.models import ValidationResult, ValidationRun
from validateur.validation.catalogue import rule_title, scenario_title

log = logging.getLogger(__name__)

HEADER = ["Sévérité", "Règle", "Scénario", "Message", "Solution", "Lignes", "ID RAMQ",
          "Impact monétaire ($)", "Code de règle", "Code de scénario"]
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
            ValidationResult.id_ramq, ValidationResult.monetary_impact)


def spreadsheet_amount(finding: Any) -> str:
    """`-1234,56`: what Excel-fr reads as a number (no grouping, no currency sign)."""
    return f"{finding.monetary_impact:.2f}".replace(".", ",")


def finding_cells(finding: Any) -> list[str]:
    """One CSV line of a finding (an ORM object or a row of `EXPORTED`)."""
    cells = [
        labels.label(labels.SEVERITY, finding.severity), rule_title(finding.rule),
        scenario_title(finding.rule, finding.scenario), finding.message, finding.solution,
        " ".join(str(r) for r in finding.rows or []), " ".join(finding.id_ramq or []),
    ]
    codes = [finding.rule, finding.scenario]
    return [neutralise(c) for c in cells] + [spreadsheet_amount(finding)] + [
        neutralise(c) for c in codes]


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
