"""Small builders of typed rows for rule tests: fictitious people only."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal
from itertools import count

from validateur.validation.cells import claim_number
from validateur.validation.rows import BillingRow

_numbers = count(1)

DOCTOR = "1234567-12345 | Tremblay, Marie - Omnipraticien"


def nam(n: int) -> str:
    """A fictitious NAM: 4 letters + 8 digits, distinct per `n`."""
    return f"TEST{n:08d}"


def make_row(
    *,
    code: str = "15804",
    day: date | str = date(2025, 3, 10),
    patient: str | int = 1,
    doctor: str = DOCTOR,
    paid: Decimal | str | None = "49.15",
    claimed: Decimal | str | None = "49.15",
    context: str = "",
    place: str = "50001",
    start: time | str | None = None,
    end: time | str | None = None,
    units: int | None = None,
    id_ramq: str | None = None,
    row_number: int | None = None,
    line: int | None = None,
) -> BillingRow:
    """A typed row as the reader would produce it, with the identities derived; its file
    `line` is the row number plus one (the header line) unless given."""
    number = row_number if row_number is not None else next(_numbers)
    day = date.fromisoformat(day) if isinstance(day, str) else day
    patient_id = nam(patient) if isinstance(patient, int) else patient
    start = time.fromisoformat(start) if isinstance(start, str) else start
    end = time.fromisoformat(end) if isinstance(end, str) else end
    tokens = frozenset(
        t.strip().upper().removeprefix("#") for t in context.split(",") if t.strip()
    )
    licence = doctor.split("-", 1)[0].strip()
    id_ramq = id_ramq or f"{10000000000 + number}"
    return BillingRow(
        row_number=number,
        line=number + 1 if line is None else line,
        facture=f"F{number:06d}",
        id_ramq=id_ramq,
        date_service_text=day.isoformat(),
        debut_text=start.strftime("%H:%M") if start else "",
        fin_text=end.strftime("%H:%M") if end else "",
        lieu_pratique=place,
        code=code,
        unites_text="" if units is None else str(units),
        element_contexte=context,
        montant_preliminaire_text="" if claimed is None else str(claimed),
        montant_paye_text="" if paid is None else str(paid),
        doctor_info=doctor,
        patient=f"{patient_id} - DOE, JANE",
        date_service=day,
        debut=start,
        fin=end,
        unites=units,
        montant_preliminaire=None if claimed is None else Decimal(claimed),
        montant_paye=None if paid is None else Decimal(paid),
        context=tokens,
        claim=claim_number(id_ramq) or "",
        doctor=licence if licence.isdigit() and len(licence) == 7 else doctor.strip(),
        patient_id=patient_id,
    )
