"""Writing a run's billing rows and findings in one PostgreSQL transaction.

Rows go through `COPY … FROM STDIN` (psycopg 3) on a dedicated connection: the whole attempt
(delete what a previous attempt left, copy every row, insert the findings) commits at once
or not at all, so a crash or a retry can never leave a partial or duplicated copy. Progress
is written on another connection meanwhile, so pages see it while the copy runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import orjson
import psycopg

from validateur.extensions import db
from validateur.models import RunStatus
from validateur.validation.findings import Finding, Severity
from validateur.validation.lines import LineMap
from validateur.validation.rows import BillingRow

#: The contract's columns of `billing_records` (a view over `billing_rows` and
#: `run_practices`, docs/architecture.md § The database).
CONTRACT_COLUMNS = (
    "validation_run_id", "row_number", "facture", "id_ramq", "date_service", "debut", "fin",
    "periode", "lieu_pratique", "secteur_activite", "diagnostic", "code", "unites", "role",
    "element_contexte", "montant_preliminaire", "montant_paye", "doctor_info", "patient",
)
#: The texts a practice number stands for, in this order in `run_practices` and in a key.
PRACTICE_COLUMNS = ("doctor_info", "lieu_pratique", "secteur_activite")
#: What the job COPYs into `billing_rows`: the row's own texts, then its practice number and
#: the practice texts (empty when numbered).
RECORD_COLUMNS = (
    "validation_run_id", "row_number", "facture", "id_ramq", "date_service", "debut", "fin",
    "periode", "diagnostic", "code", "unites", "role", "element_contexte",
    "montant_preliminaire", "montant_paye", "patient", "practice", *PRACTICE_COLUMNS,
)
_COPY_RECORDS = f"COPY billing_rows ({', '.join(RECORD_COLUMNS)}) FROM STDIN"
_COPY_PRACTICES = (f"COPY run_practices (validation_run_id, number, {', '.join(PRACTICE_COLUMNS)})"
                   " FROM STDIN")
#: Distinct practices a run numbers; the rows of any practice past these (a file whose texts
#: differ on every row) keep their texts inline, so memory stays bounded whatever the file.
MAX_PRACTICES = 10_000
#: Rows per write to COPY (and per check that none needs escaping): the reader's batch.
BATCH_ROWS = 500
#: Distinct date / amount texts whose COPY text is remembered (emptied when full).
MAX_CACHED = 50_000
_NULL = "\\N"
#: What COPY's text format must escape in a value (PostgreSQL docs, "COPY", text format).
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
FINDING_COLUMNS = (
    "validation_run_id", "rule", "scenario", "severity", "message", "solution", "rows",
    "id_ramq", "monetary_impact", "data", "severity_rank", "service_date", "doctor",
    "doctor_label", "person", "lines",
)
_COPY_FINDINGS = f"COPY validation_results ({', '.join(FINDING_COLUMNS)}) FROM STDIN"
_RANKS = {severity: str(severity.rank) for severity in Severity}


class RecordLines:
    """`billing_records` rows as COPY text lines, built with one f-string per row.

    Formatting the lines ourselves rather than through `Copy.write_row` cuts what COPY adds
    to reading by a third (measured on 1,000,000 rows: 2.2 s → 1.4 s): cells are already text, and
    dates and amounts repeat, so their COPY text is looked up by the cell text. A batch is
    checked once for characters that COPY must escape (a tab, newline, carriage return or
    backslash inside a cell); only such a rare batch is built again value by value. Amounts
    are below `cells.MAX_AMOUNT`, well inside `Numeric(14, 2)`.
    """

    def __init__(self, run_id: int) -> None:
        self._run_id = run_id
        self._dates: dict[str, str] = {}
        self._amounts: dict[str, str] = {}
        #: (`Doctor Info`, `Lieu de pratique`, `Secteur d'activité`) → the COPY text of the
        #: row's last four values: its number and three empty texts.
        self.practices: dict[tuple[str, str, str], str] = {}

    def text(self, rows: list[BillingRow]) -> str:
        """The COPY data of a batch of rows, every line escaped as needed."""
        data = "".join([self._line(row) for row in rows])
        if not _is_plain(data, len(rows), len(RECORD_COLUMNS)):
            data = "".join(self._escaped_line(row) for row in rows)
        return _without_nul(data)

    def _line(self, row: BillingRow) -> str:
        try:
            day = self._dates[row.date_service_text]
        except KeyError:
            day = self._remember(self._dates, row.date_service_text, row.date_service)
        try:
            claimed = self._amounts[row.montant_preliminaire_text]
        except KeyError:
            claimed = self._remember(self._amounts, row.montant_preliminaire_text,
                                     row.montant_preliminaire)
        try:
            paid = self._amounts[row.montant_paye_text]
        except KeyError:
            paid = self._remember(self._amounts, row.montant_paye_text, row.montant_paye)
        key = (row.doctor_info, row.lieu_pratique, row.secteur_activite)
        try:
            practice = self.practices[key]
        except KeyError:
            practice = self._number(key)
        return (
            f"{self._run_id}\t{row.row_number}\t{row.facture}\t{row.id_ramq}\t{day}\t"
            f"{row.debut_text}\t{row.fin_text}\t{row.periode}\t{row.diagnostic}\t"
            f"{row.code}\t{row.unites_text}\t{row.role}\t{row.element_contexte}\t{claimed}\t"
            f"{paid}\t{row.patient}\t{practice}\n"
        )

    def _number(self, key: tuple[str, str, str]) -> str:
        """The COPY text of a new practice's last four values: its number and three empty
        texts, or, past `MAX_PRACTICES`, no number and the texts (escaped with the batch)."""
        if len(self.practices) >= MAX_PRACTICES:
            return "\t".join((_NULL, *key))
        copy_text = self.practices[key] = f"{len(self.practices) + 1}\t\t\t"
        return copy_text

    def practice_lines(self) -> str:
        """`run_practices` as COPY text: every practice numbered so far, escaped."""
        return "".join(
            "\t".join((str(self._run_id), number.rstrip("\t"),
                       *(text.translate(_COPY_ESCAPES) for text in key))) + "\n"
            for key, number in self.practices.items()
        )

    @staticmethod
    def _remember(cache: dict[str, str], text: str, value: date | Decimal | None) -> str:
        if len(cache) >= MAX_CACHED:
            cache.clear()
        copy_text = cache[text] = _NULL if value is None else str(value)
        return copy_text

    def _escaped_line(self, row: BillingRow) -> str:
        """The row's line value by value (a rare batch): its contract values
        (`record_values`), laid out as `RECORD_COLUMNS`, practice texts emptied if numbered."""
        values: dict[str, Any] = dict(zip(CONTRACT_COLUMNS, record_values(self._run_id, row),
                                          strict=True))
        key = (values["doctor_info"], values["lieu_pratique"], values["secteur_activite"])
        number = (self.practices.get(key) or self._number(key)).split("\t", 1)[0]
        values["practice"] = None if number == _NULL else number
        if number != _NULL:
            values.update(dict.fromkeys(PRACTICE_COLUMNS, ""))
        return "\t".join(
            _NULL if value is None else str(value).translate(_COPY_ESCAPES)
            for value in (values[column] for column in RECORD_COLUMNS)
        ) + "\n"


def record_values(run_id: int, row: BillingRow) -> tuple[Any, ...]:
    """One `billing_records` row (`CONTRACT_COLUMNS`): text exactly as decoded, typed date
    and amounts."""
    return (
        run_id, row.row_number, row.facture, row.id_ramq, row.date_service, row.debut_text,
        row.fin_text, row.periode, row.lieu_pratique, row.secteur_activite, row.diagnostic,
        row.code, row.unites_text, row.role, row.element_contexte, row.montant_preliminaire,
        row.montant_paye, row.doctor_info, row.patient,
    )


class RunWriter:
    """Streams one attempt's rows with COPY, then its findings, on one transaction."""

    def __init__(self, conn: psycopg.Connection[Any], run_id: int) -> None:
        self._conn = conn
        self._run_id = run_id
        self._cursor = conn.cursor()
        self._run_text = str(run_id)
        self._copy: Any = None
        self._lines = RecordLines(run_id)
        self._line_map = LineMap()
        self.rows_written = 0

    def still_processing(self) -> bool:
        """Lock the run row `FOR SHARE` until commit; whether the run is still processing.

        Called right before the commit, after the last progress write: that write (an
        UPDATE on another connection) would wait for this lock, and the job with it. Held
        until commit, the lock makes a delete or cancel of the run (which locks the row
        first) wait for the commit, and then remove the rows just committed; a run deleted
        or cancelled before this point is seen here, and the attempt rolls back.
        """
        found = self._cursor.execute(
            "SELECT status FROM validation_runs WHERE id = %s FOR SHARE", (self._run_id,)
        ).fetchone()
        return found is not None and found[0] == RunStatus.PROCESSING

    def clear_previous_attempt(self) -> None:
        self._cursor.execute(
            "DELETE FROM billing_rows WHERE validation_run_id = %s", (self._run_id,)
        )
        self._cursor.execute(
            "DELETE FROM run_practices WHERE validation_run_id = %s", (self._run_id,)
        )
        self._cursor.execute(
            "DELETE FROM validation_results WHERE validation_run_id = %s", (self._run_id,)
        )

    @contextmanager
    def copying(self) -> Iterator[RunWriter]:
        """COPY the batches given to `write_batch` until the block ends."""
        with self._cursor.copy(_COPY_RECORDS) as copy:
            self._copy = copy
            yield self
        self._copy = None
        with self._cursor.copy(_COPY_PRACTICES) as copy:
            copy.write(_without_nul(self._lines.practice_lines()))

    def write_batch(self, rows: list[BillingRow]) -> None:
        """COPY a batch of rows (the reader hands them over in lists of `BATCH_ROWS`)."""
        self._copy.write(self._lines.text(rows))
        self._line_map.add(rows)
        self.rows_written += len(rows)

    def write_findings(self, findings: Iterable[Finding]) -> FindingTotals:
        """COPY findings as they are produced (never a full list) and total them."""
        totals = FindingTotals()
        batch: list[tuple[str, ...]] = []
        with self._cursor.copy(_COPY_FINDINGS) as copy:
            for finding in findings:
                batch.append(self._finding_values(finding))
                totals.add(finding)
                if len(batch) >= BATCH_ROWS:
                    copy.write(_copy_text(batch))
                    batch.clear()
            copy.write(_copy_text(batch))
        return totals

    def _finding_values(self, f: Finding) -> tuple[str, ...]:
        """A finding's COPY values as PostgreSQL text literals (arrays and JSON included).

        Its `lines` are the rule's, else those of its rows (`LineMap`, learnt from the rows
        copied); empty texts are NULL.
        """
        lines = f.lines or self._line_map.lines(f.rows)
        return (
            self._run_text, f.rule, f.scenario, f.severity, f.message, f.solution,
            "{" + ",".join(map(str, f.rows)) + "}", _text_array(f.id_ramq),
            str(f.monetary_impact), _json(f.data), _RANKS[f.severity],
            _NULL if f.service_date is None else f.service_date.isoformat(),
            f.doctor or _NULL, f.doctor_label or _NULL, f.person or _NULL,
            "{" + ",".join(map(str, lines)) + "}",
        )


def _text_array(items: tuple[str, ...]) -> str:
    """`('a', 'b')` → `{"a","b"}`: every element quoted, so any text is one element.

    The joiner holds two quotes: any other quote (or a backslash) in the elements needs
    escaping, which only such a rare array pays for.
    """
    inner = '","'.join(items)
    if inner.count('"') != 2 * (len(items) - 1) or "\\" in inner:  # a quote or backslash
        inner = '","'.join(item.replace("\\", "\\\\").replace('"', '\\"') for item in items)
    return '{"' + inner + '"}' if items else "{}"


def _copy_text(batch: list[tuple[str, ...]]) -> str:
    """COPY text of rows of text values; only a batch holding a special character is escaped.

    A value may be the NULL marker `_NULL` itself (that very object): it is the one backslash
    a plain batch holds, and is never escaped.
    """
    if not batch:
        return ""
    nulls = sum([value is _NULL for values in batch for value in values])
    data = "\n".join(["\t".join(values) for values in batch]) + "\n"
    if not _is_plain(data, len(batch), len(batch[0]), backslashes=nulls):
        data = "".join(
            "\t".join(value if value is _NULL else value.translate(_COPY_ESCAPES)
                      for value in values) + "\n"
            for values in batch
        )
    return _without_nul(data)


def _without_nul(data: str) -> str:
    """`data` without NUL, the one character PostgreSQL text cannot hold (COPY would refuse
    the whole attempt). The reader already removes them from cells and reports them; this
    one C-speed scan per batch keeps any other text from failing a run."""
    return data.replace("\0", "") if "\0" in data else data


def _is_plain(data: str, lines: int, width: int, backslashes: int = 0) -> bool:
    """Whether `data`, `lines` lines of `width` values joined by tabs, needs no escaping.

    Counting tabs and newlines in the whole batch tells whether a value holds one, and one
    scan each finds a carriage return or counts backslashes (`backslashes`: those of NULL
    markers): four C-speed passes instead of escaping every value.
    """
    return (
        data.count("\t") == (width - 1) * lines
        and data.count("\n") == lines
        and "\r" not in data
        and data.count("\\") == backslashes
    )


def _json(data: dict[str, Any]) -> str:
    """`data` as JSON text: orjson (dates ISO, Decimals as text) is 5× the json module here.

    Keys are text in every rule's `data`; a dict with other keys (which orjson refuses by
    default, and accepts more slowly with an option) is written with that option.
    """
    try:
        return orjson.dumps(data, default=str).decode()
    except orjson.JSONEncodeError:
        return orjson.dumps(data, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


@dataclass
class FindingTotals:
    """Counts per severity and money totals of a run's findings, summed while streaming."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(Severity, 0))
    potential_gain: Decimal = Decimal("0")
    money_at_risk: Decimal = Decimal("0")

    def add(self, finding: Finding) -> None:
        self.counts[finding.severity] += 1
        impact = finding.monetary_impact
        if impact:
            if impact > 0:
                self.potential_gain += impact
            else:
                self.money_at_risk -= impact

    @property
    def total(self) -> int:
        return sum(self.counts.values())


#: Seconds between two tries of the run's lock while another attempt holds it.
LOCK_POLL_SECONDS = 1.0


def _lock_run(conn: psycopg.Connection[Any], run_id: int, waiting: Callable[[], None]) -> None:
    """Hold the run's advisory lock for this transaction: one attempt writes at a time.

    An earlier attempt that is still alive (a job thought lost but only slow) keeps the lock
    until it commits or its connection dies; meanwhile `waiting` is called (heartbeat).
    """
    while not conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (run_id,)).fetchone()[0]:  # type: ignore[index]
        waiting()
        time.sleep(LOCK_POLL_SECONDS)


@contextmanager
def run_transaction(run_id: int, waiting: Callable[[], None] = lambda: None
                    ) -> Iterator[RunWriter]:
    """A dedicated connection and transaction for one attempt; commits only on success."""
    raw = db.engine.raw_connection()
    try:
        conn: psycopg.Connection[Any] = raw.driver_connection  # type: ignore[assignment]
        with conn.transaction():
            _lock_run(conn, run_id, waiting)
            writer = RunWriter(conn, run_id)
            writer.clear_previous_attempt()
            yield writer
    finally:
        raw.close()
