"""Reference data: the RAMQ codes table and GMF establishments, imported and loaded.

The job loads what the rules need once per run and hands it to them as frozen sets; an
empty table means "not loaded" (`None`), and the rules that need it say once they skipped.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from validateur.errors import ValidateurError
from validateur.extensions import db
from validateur.models import GmfEstablishment, RamqCode
from validateur.validation.engine import ReferenceData

CONSULTATION_TOP_LEVEL = "B - CONSULTATION, EXAMEN ET VISITE"
CLINICAL_INTERVENTION_CODES = frozenset({"8857", "8859"})
#: Rows per INSERT (PostgreSQL caps a statement at 65,535 parameters).
_BATCH_ROWS = 2000
_CODE_FIELDS = ("billing_code", "place", "tariff_value", "extra_unit_value", "unit_require",
                "description", "top_level", "level1_group", "level2_group", "leaf", "indicators")


def load_for_run() -> ReferenceData:
    """What the rules need, read once per run."""
    codes = db.session.execute(select(RamqCode.billing_code, RamqCode.top_level)).all()
    gmf = db.session.execute(select(GmfEstablishment.number)).scalars().all()
    known = frozenset(code for code, _ in codes)
    consultation = frozenset(
        code for code, top in codes if top == CONSULTATION_TOP_LEVEL
    ) - CLINICAL_INTERVENTION_CODES
    return ReferenceData(
        known_codes=known or None,
        consultation_codes=consultation if known else None,
        gmf_establishments=frozenset(gmf) or None,
    )


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text.strip().replace(",", ".")) if text.strip() else None
    except InvalidOperation:
        return None


class ReferenceFileError(ValidateurError, ValueError):
    """A reference file cannot be read; the message is French and names the file."""


def read_text(path: Path) -> str:
    """A reference file's text: UTF-8 (with or without BOM), else Windows-1252, as Excel on
    a French Windows saves CSV files."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        raise ReferenceFileError(
            f"{path.name} n'est ni en UTF-8 ni en Windows-1252 : enregistrez-le en UTF-8."
        ) from None


def read_codes(path: Path) -> Iterator[dict[str, object]]:
    """Rows of the public codes table (UTF-8 or Windows-1252, CRLF), one per code and place."""
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
    missing = [name for name in ("billing_code", "place") if name not in (reader.fieldnames or [])]
    if missing:
        raise ReferenceFileError(f"{path.name} : colonnes absentes : {', '.join(missing)}.")
    for raw in reader:
        if not (raw.get("billing_code") or "").strip():
            continue
        row: dict[str, object] = {key: (raw.get(key) or "").strip() for key in _CODE_FIELDS}
        row["tariff_value"] = _decimal(str(row["tariff_value"]))
        row["extra_unit_value"] = _decimal(str(row["extra_unit_value"]))
        row["unit_require"] = str(row["unit_require"]).upper() == "TRUE"
        yield row


def import_codes(path: Path) -> int:
    """Upsert the codes table (idempotent); returns the number of rows read."""
    rows = list(read_codes(path))
    unique = list({(r["billing_code"], r["place"]): r for r in rows}.values())
    for start in range(0, len(unique), _BATCH_ROWS):
        statement = insert(RamqCode).values(unique[start : start + _BATCH_ROWS])
        db.session.execute(
            statement.on_conflict_do_update(
                index_elements=["billing_code", "place"],
                set_={key: statement.excluded[key] for key in _CODE_FIELDS[2:]},
            )
        )
    db.session.commit()
    return len(unique)


def read_gmf_numbers(path: Path) -> Iterable[str]:
    """Establishment numbers: one per line, or the first 5-digit column of a CSV."""
    numbers: set[str] = set()
    for line in read_text(path).splitlines():
        for cell in line.replace(";", ",").split(","):
            value = cell.strip().strip('"')
            if value.isdigit() and len(value) == 5:
                numbers.add(value)
                break
    return sorted(numbers)


def import_gmf(path: Path) -> int:
    numbers = list(read_gmf_numbers(path))
    if numbers:
        statement = insert(GmfEstablishment).values([{"number": n} for n in numbers])
        db.session.execute(statement.on_conflict_do_nothing(index_elements=["number"]))
    db.session.commit()
    return len(numbers)
