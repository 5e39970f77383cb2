"""The header line: which delimiter, where the header is, and which column sits where.

Headers are matched by a normalised name: accents stripped (NFKD, combining marks dropped), case
folded, whitespace collapsed, NUL characters dropped; a U+FFFD left by a lossy conversion is a
wildcard standing for one letter (a run of n of them for 1 to n letters), so `D�but` is `Début`.
`Élement de contexte` and `Élément de contexte` normalise to the same name. Unknown headers are
ignored; a known column named twice keeps its first position.

Where the header is (docs/file-format.md): an optional first line `sep=;` (Excel) names the
delimiter; then up to `MAX_LINES_BEFORE_HEADER` title or blank lines (report title, date range,
clinic name) may come before the header, which is the first line naming every required column.
Otherwise the delimiter is the one of `;`, `,`, tab whose header (parsed by the csv module, so
delimiters inside quotes do not count) names the most known columns, then has the most cells.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from validateur.formatting import integer
from validateur.validation.rows import COLUMN_LABELS, REQUIRED_COLUMNS, Column
from validateur.validation.unusable import MISSING_COLUMNS, UnusableFile

DELIMITERS = (";", ",", "\t")
#: Title or blank lines accepted before the header (after the `sep=` line, if any).
MAX_LINES_BEFORE_HEADER = 10
#: How far past that limit a header is still looked for, only to say where it is.
HINT_LINES = 50
_WILDCARD = "\ufffd"
#: Excel's first line naming the delimiter: `sep=;` (sometimes quoted, any case).
_SEP_LINE = re.compile(r'"?sep=([^\r\n"])"?[ \t]*(?:\r\n|\n|\r|$)', re.IGNORECASE)


def normalise(name: str) -> str:
    """`  Élément   de CONTEXTE ` → `element de contexte`."""
    decomposed = unicodedata.normalize("NFKD", name.replace("\0", ""))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())


_KNOWN: dict[str, Column] = {normalise(label): column for column, label in COLUMN_LABELS.items()}


def match_column(name: str) -> Column | None:
    """The known column a header cell names, or None."""
    key = normalise(name)
    if _WILDCARD not in key:
        return _KNOWN.get(key)
    if not key.replace(_WILDCARD, "").strip():
        return None
    pattern = re.compile(
        "".join(
            f".{{1,{len(run)}}}" if run.startswith(_WILDCARD) else re.escape(run)
            for run in re.split(f"({_WILDCARD}+)", key)
            if run
        )
    )
    matches = [column for known, column in _KNOWN.items() if pattern.fullmatch(known)]
    return matches[0] if len(matches) == 1 else None


def map_header(cells: Iterable[str]) -> dict[Column, int]:
    """Column → index of its first header cell."""
    columns: dict[Column, int] = {}
    for index, cell in enumerate(cells):
        column = match_column(cell)
        if column is not None and column not in columns:
            columns[column] = index
    return columns


def is_blank(cells: list[str]) -> bool:
    """A record whose cells are all empty or whitespace."""
    return not any(cell.strip() for cell in cells)


@dataclass(frozen=True)
class Header:
    """The header found in the head of a file.

    `index` is the number of records before it (the `sep=` line, title and blank lines): the
    reader skips that many records, then the header itself.
    """

    delimiter: str
    cells: list[str]
    columns: dict[Column, int]
    index: int


def sep_delimiter(head_text: str) -> str | None:
    """The delimiter a first line `sep=X` names, or None."""
    match = _SEP_LINE.match(head_text)
    return match.group(1) if match else None


def _records(head_text: str, delimiter: str, limit: int) -> Iterator[tuple[int, list[str]]]:
    """The first `limit` records of the head, numbered from 0; stops at a csv error."""
    reader = csv.reader(io.StringIO(head_text, newline=""), delimiter=delimiter)
    try:
        for index, cells in enumerate(reader):
            if index >= limit:
                return
            yield index, cells
    except csv.Error:
        return


@dataclass
class _Scan:
    """What one delimiter finds in the head: the header, or the best partial one."""

    header: Header | None = None
    late_index: int | None = None  # a complete header past the limit
    partial: dict[Column, int] | None = None
    nonblank: int = 0  # non-blank records within the limit


def _scan(head_text: str, delimiter: str, first: int, *, hint: bool = False) -> _Scan:
    """Look for the header among records `first` … `first + MAX_LINES_BEFORE_HEADER`, and with
    `hint` up to `HINT_LINES` further, only to say where a header too far down is."""
    scan = _Scan()
    last = first + MAX_LINES_BEFORE_HEADER
    for index, cells in _records(head_text, delimiter, last + 1 + (HINT_LINES if hint else 0)):
        if index < first or is_blank(cells):
            continue
        columns = map_header(cells)
        complete = all(column in columns for column in REQUIRED_COLUMNS)
        if index > last:
            if complete:
                scan.late_index = index
                break
            continue
        scan.nonblank += 1
        if complete:
            scan.header = Header(delimiter, cells, columns, index)
            break
        if columns and (scan.partial is None or len(columns) > len(scan.partial)):
            scan.partial = columns
    return scan


def find_header(head_text: str) -> Header:
    """Delimiter, header cells, column positions and place; `UnusableFile` when unusable."""
    named = sep_delimiter(head_text)
    first = 1 if named is not None else 0
    if named is not None:
        scan = _scan(head_text, named, first)
        if scan.header is not None:
            return scan.header
    found = [scan.header for delimiter in DELIMITERS
             if (scan := _scan(head_text, delimiter, first)).header is not None]
    if found:
        return max(found, key=lambda h: (len(h.columns), len(h.cells), -h.index))
    raise _no_header([_scan(head_text, delimiter, first, hint=True)
                      for delimiter in (named, *DELIMITERS) if delimiter is not None])


def _no_header(scans: list[_Scan]) -> UnusableFile:
    """The refusal when no line of the head's first lines names every required column."""
    window = integer(MAX_LINES_BEFORE_HEADER + 1)
    late = [scan.late_index for scan in scans if scan.late_index is not None]
    if late:
        return UnusableFile(
            f"Aucune ligne d'en-tête reconnue dans les {window} premières lignes du fichier : "
            f"l'en-tête est à la ligne {min(late) + 1}, alors qu'au plus "
            f"{integer(MAX_LINES_BEFORE_HEADER)} lignes de titre ou vides peuvent le précéder. "
            "Supprimez les lignes en trop au début du fichier ou exportez à nouveau le rapport "
            "« Facturation journalière ».",
            category=MISSING_COLUMNS,
        )
    partials = [scan.partial for scan in scans if scan.partial]
    if partials:
        columns = max(partials, key=len)
        missing = [COLUMN_LABELS[column] for column in REQUIRED_COLUMNS if column not in columns]
        return UnusableFile("Colonnes obligatoires absentes : " + ", ".join(missing) + ".",
                            category=MISSING_COLUMNS)
    expected = ", ".join(COLUMN_LABELS[c] for c in REQUIRED_COLUMNS)
    where = (
        f"aucune des {window} premières lignes du fichier ne nomme les colonnes attendues "
        f"({expected}) ; au plus {integer(MAX_LINES_BEFORE_HEADER)} lignes de titre peuvent "
        "précéder l'en-tête"
        if max(scan.nonblank for scan in scans) > 1
        else f"la première ligne du fichier ne nomme aucune des colonnes attendues ({expected})"
    )
    return UnusableFile(
        f"Aucune ligne d'en-tête reconnue : {where}. "
        "Vérifiez qu'il s'agit bien de l'export « Facturation journalière ».",
        category=MISSING_COLUMNS,
    )
