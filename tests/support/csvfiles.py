"""Build small billing CSV files in code (fictitious people only)."""

from __future__ import annotations

import csv
import importlib.util
import io
from collections.abc import Iterable, Mapping
from pathlib import Path

HEADER = [
    "#", "Facture", "ID RAMQ", "Date de Service", "Début", "Fin", "Periode", "Lieu de pratique",
    "Secteur d'activité", "Diagnostic", "Code", "Unités", "Rôle", "Élement de contexte",
    "Montant Preliminaire", "Montant payé", "Doctor Info",
    "DEV NOTE - À TRADUIRE: Report_DailyClaimInfo_TotalPrelAmount",
    "DEV NOTE - À TRADUIRE: Report_DailyClaimInfo_TotalFinalAmount",
    "DEV NOTE - À TRADUIRE: Report_DailyClaimInfo_TotalCount", "Agence", "Patient", "Grand Total",
]
DOCTOR = "1234567-12345 | Côté, Ève - Omnipraticien"


def act(n: int, **cells: str) -> dict[str, str]:
    """One data row with sensible defaults; override any header with keyword `cells`."""
    row = {
        "#": str(n), "Facture": f"F{n:05d}", "ID RAMQ": f"{30000000000 + n}",
        "Date de Service": "2025-03-10", "Début": "", "Fin": "", "Periode": "1",
        "Lieu de pratique": "50001", "Secteur d'activité": "Aucun Secteur", "Diagnostic": "A09",
        "Code": "15804", "Unités": "", "Rôle": "1", "Élement de contexte": "",
        "Montant Preliminaire": "49,15", "Montant payé": "49,15", "Doctor Info": DOCTOR,
        "Agence": "Agence Test", "Patient": f"TEST{n:08d} - CÔTÉ, FRANÇOIS", "Grand Total": "",
    }
    row.update({key.replace("_", " "): value for key, value in cells.items()})
    return row


def billing_csv(rows: Iterable[Mapping[str, str]], *, encoding: str = "utf-8",
                delimiter: str = ",", header: list[str] | None = None,
                line_ending: str = "\r\n", drop_last_cell: bool = False) -> bytes:
    """Encode rows as a billing export; `drop_last_cell` writes 22-field data rows."""
    names = header or HEADER
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=line_ending)
    writer.writerow(names)
    for row in rows:
        cells = [row.get(name, "") for name in names]
        writer.writerow(cells[:-1] if drop_last_cell else cells)
    return buffer.getvalue().encode(encoding)


def sample_file(path: Path, rows: int, *, encoding: str = "cp1252", delimiter: str = ";") -> Path:
    """A realistic generated file (scripts/make_sample_csv.py), for the longer runs."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "make_sample_csv.py"
    spec = importlib.util.spec_from_file_location("make_sample_csv", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write_sample(path, rows, encoding=encoding, delimiter=delimiter)
    return path
