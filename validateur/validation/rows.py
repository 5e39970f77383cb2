"""Typed billing rows: what the reader produces and what every rule reads.

A `BillingRow` keeps both the text of each cell exactly as decoded (what `billing_records`
stores) and the typed values rules need (Decimal amounts, dates, times, context tokens,
patient and doctor identities, the claim number). A cell that cannot be parsed keeps its
text, gets `None` as its typed value, and leaves a `RowProblem` naming the column: the
`structure` rule turns those into findings, the other rules simply skip the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal
from enum import StrEnum


class Column(StrEnum):
    """The columns the service knows, by their `billing_records` column name."""

    FACTURE = "facture"
    ID_RAMQ = "id_ramq"
    DATE_SERVICE = "date_service"
    DEBUT = "debut"
    FIN = "fin"
    PERIODE = "periode"
    LIEU_PRATIQUE = "lieu_pratique"
    SECTEUR_ACTIVITE = "secteur_activite"
    DIAGNOSTIC = "diagnostic"
    CODE = "code"
    UNITES = "unites"
    ROLE = "role"
    ELEMENT_CONTEXTE = "element_contexte"
    MONTANT_PRELIMINAIRE = "montant_preliminaire"
    MONTANT_PAYE = "montant_paye"
    DOCTOR_INFO = "doctor_info"
    PATIENT = "patient"


#: Header text as exported, per column (used in French messages).
COLUMN_LABELS: dict[Column, str] = {
    Column.FACTURE: "Facture",
    Column.ID_RAMQ: "ID RAMQ",
    Column.DATE_SERVICE: "Date de Service",
    Column.DEBUT: "Début",
    Column.FIN: "Fin",
    Column.PERIODE: "Periode",
    Column.LIEU_PRATIQUE: "Lieu de pratique",
    Column.SECTEUR_ACTIVITE: "Secteur d'activité",
    Column.DIAGNOSTIC: "Diagnostic",
    Column.CODE: "Code",
    Column.UNITES: "Unités",
    Column.ROLE: "Rôle",
    Column.ELEMENT_CONTEXTE: "Élement de contexte",
    Column.MONTANT_PRELIMINAIRE: "Montant Preliminaire",
    Column.MONTANT_PAYE: "Montant payé",
    Column.DOCTOR_INFO: "Doctor Info",
    Column.PATIENT: "Patient",
}

#: Columns without which a file is unusable (docs/file-format.md).
REQUIRED_COLUMNS: tuple[Column, ...] = (
    Column.DATE_SERVICE,
    Column.CODE,
    Column.DOCTOR_INFO,
    Column.PATIENT,
    Column.MONTANT_PRELIMINAIRE,
    Column.MONTANT_PAYE,
)


class Problem(StrEnum):
    """Row-level defects found while reading; each becomes a `structure` finding."""

    INVALID_DATE = "invalid-date"
    INVALID_AMOUNT = "invalid-amount"
    AMOUNT_OUT_OF_RANGE = "amount-out-of-range"
    INVALID_TIME = "invalid-time"
    MISSING_VALUE = "missing-value"
    EXTRA_CELLS = "extra-cells"
    INVALID_CHARACTER = "invalid-character"
    INVALID_CLAIM = "invalid-claim"


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One defect of one row: which kind and which column (never the cell's value)."""

    problem: Problem
    column: Column | None = None


@dataclass(slots=True)
class BillingRow:
    """One data row of a billing file, as text and as typed values.

    `row_number` is the reader's own 1-based data-row number (blank rows are not counted),
    never the export's `#` column. `line` is the row's 1-based line in the file as a
    spreadsheet shows it: every record counts, the `sep=`, title, header and blank lines
    included (a quoted cell holding line breaks is one line), 0 when unknown (rows built in
    tests). Text attributes hold the cell exactly as decoded ("" when
    absent). Typed attributes are `None` when the cell is empty or unparseable.

    `claim` is the claim number rules may show: the stripped `ID RAMQ` when it is claim-shaped
    (`cells.claim_number`), else "" (and an `invalid-claim` problem when the cell was not
    empty). Rules read `claim`, never `id_ramq`, which only `billing_records` stores.
    """

    row_number: int
    line: int = 0
    facture: str = ""
    id_ramq: str = ""
    date_service_text: str = ""
    debut_text: str = ""
    fin_text: str = ""
    periode: str = ""
    lieu_pratique: str = ""
    secteur_activite: str = ""
    diagnostic: str = ""
    code: str = ""
    unites_text: str = ""
    role: str = ""
    element_contexte: str = ""
    montant_preliminaire_text: str = ""
    montant_paye_text: str = ""
    doctor_info: str = ""
    patient: str = ""
    # typed values
    date_service: date | None = None
    debut: time | None = None
    fin: time | None = None
    unites: int | None = None
    montant_preliminaire: Decimal | None = None
    montant_paye: Decimal | None = None
    context: frozenset[str] = frozenset()
    claim: str = ""
    doctor: str = ""
    patient_id: str = ""
    problems: tuple[RowProblem, ...] = field(default=())

    @property
    def is_paid(self) -> bool:
        """Paid by the RAMQ: `Montant payé` strictly positive (empty or 0,00 is unpaid)."""
        paid = self.montant_paye
        return paid is not None and paid.is_finite() and paid > 0
