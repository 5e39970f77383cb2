"""Findings as CSV for Excel-fr: UTF-8 with BOM, `;` delimiter, formulas neutralised.

Streamed row by row so a run with many findings never builds the whole file in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from flask import Response, stream_with_context
from sqlalchemy import Select

from validateur.extensions import db
from validateur.models import ValidationResult, ValidationRun

HEADER = ["Sévérité", "Règle", "Scénario", "Message", "Solution", "Lignes", "ID RAMQ",
          "Impact monétaire ($)"]
SEVERITY_LABELS = {"error": "Erreur", "warning": "Avertissement",
                   "optimization": "Optimisation", "info": "Information"}
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """Prefix a quote to a cell a spreadsheet would run as a formula (CSV injection)."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def finding_cells(finding: ValidationResult) -> list[str]:
    impact = f"{finding.monetary_impact:.2f}".replace(".", ",")
    cells = [
        SEVERITY_LABELS.get(finding.severity, finding.severity), finding.rule, finding.scenario,
        finding.message, finding.solution, " ".join(str(r) for r in finding.rows or []),
        " ".join(finding.id_ramq or []),
    ]
    return [neutralise(c) for c in cells] + [impact]


def _lines(query: Select[Any]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(HEADER)
    yield "\ufeff" + buffer.getvalue()
    for finding in db.session.scalars(query.execution_options(yield_per=500)):
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(finding_cells(finding))
        yield buffer.getvalue()


def findings_csv_response(run: ValidationRun, query: Select[Any]) -> Response:
    response = Response(stream_with_context(_lines(query)), mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="validation-{run.id}-constats.csv"'
    )
    return response
