"""The header line: which delimiter, and which column sits where.

Headers are matched by a normalised name (billing-csv.md): accents stripped (NFKD, combining
marks dropped), case folded, whitespace collapsed; a U+FFFD left by a lossy conversion is a
wildcard standing for one letter (a run of n of them for 1 to n letters), so `D�but` is `Début`.
`Élement de contexte` and `Élément de contexte` normalise to the same name. Unknown headers are
ignored; a known column named twice keeps its first position.

The delimiter is the one of `;`, `,`, tab that makes the header line (parsed by the csv module,
so delimiters inside quotes do not count) name the most known columns, then the most cells.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable

from validateur.validation.rows import COLUMN_LABELS, REQUIRED_COLUMNS, Column
from validateur.validation.unusable import MISSING_COLUMNS, UnusableFile

DELIMITERS = (";", ",", "\t")
_WILDCARD = "\ufffd"


def normalise(name: str) -> str:
    """`  Élément   de CONTEXTE ` → `element de contexte`."""
    decomposed = unicodedata.normalize("NFKD", name)
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


def first_record(text: str, delimiter: str) -> list[str]:
    """The first non-blank record of `text` parsed with `delimiter` ([] when there is none)."""
    try:
        for cells in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            if not is_blank(cells):
                return cells
    except csv.Error:
        return []
    return []


def find_header(head_text: str) -> tuple[str, list[str], dict[Column, int]]:
    """Delimiter, header cells and column positions; raises `UnusableFile` when unusable."""
    best: tuple[int, int] = (-1, -1)
    found: tuple[str, list[str], dict[Column, int]] = (DELIMITERS[0], [], {})
    for delimiter in DELIMITERS:
        cells = first_record(head_text, delimiter)
        columns = map_header(cells)
        score = (len(columns), len(cells))
        if score > best:
            best, found = score, (delimiter, cells, columns)
    columns = found[2]
    if not columns:
        raise UnusableFile(
            "Aucune ligne d'en-tête reconnue : la première ligne du fichier ne nomme aucune des "
            "colonnes attendues (" + ", ".join(COLUMN_LABELS[c] for c in REQUIRED_COLUMNS) + "). "
            "Vérifiez qu'il s'agit bien de l'export « Facturation journalière ».",
            category=MISSING_COLUMNS,
        )
    missing = [COLUMN_LABELS[column] for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        raise UnusableFile("Colonnes obligatoires absentes : " + ", ".join(missing) + ".",
                           category=MISSING_COLUMNS)
    return found
