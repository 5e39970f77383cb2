"""Findings: what a rule says about the rows of a run.

A finding never carries a patient's or doctor's name in clear: rules put claim numbers,
invoices, dates, codes, counts and amounts in their French messages, and masked identities
(`ABCD****5678`, `Dr. X***`) in `data` when they must name a person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from validateur import formatting
from validateur.validation.privacy import mask_doctor

CENT = Decimal("0.01")


class Severity(StrEnum):
    """How urgent a finding is, most urgent first (docs/rules.md § Common ground).

    The members' order is THE order of urgency: pages, the API's groups, exports and run
    counts iterate `Severity` or sort by `rank`; labels are in `validateur.labels`.
    """

    ERROR = "error"
    WARNING = "warning"
    OPTIMIZATION = "optimization"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for the most urgent: the position in the declaration order."""
        return _RANKS[self]


_RANKS: dict[Severity, int] = {severity: rank for rank, severity in enumerate(Severity)}


@dataclass(slots=True)
class Finding:
    """One finding. `monetary_impact` < 0 is revenue at risk, > 0 revenue to gain.

    The typed fields let pages and exports filter and group findings without reading `data`:
    `service_date` and `doctor` (the 7-digit licence, "" when none) are those every row of the
    finding shares, or its doctor-day when it names no row; `doctor_label` is the masked name
    (`Dr. T***`), `person` the masked patient (`ABCD****5678`) of a patient group, `lines`
    the rows' lines in the file as a spreadsheet shows them (filled when the rows are stored,
    unless the rule set them; docs/rules.md).
    """

    rule: str
    scenario: str
    severity: Severity
    message: str
    solution: str = ""
    rows: tuple[int, ...] = ()
    id_ramq: tuple[str, ...] = ()
    monetary_impact: Decimal = Decimal("0.00")
    data: dict[str, Any] = field(default_factory=dict)
    service_date: date | None = None
    doctor: str = ""
    doctor_label: str = ""
    person: str = ""
    lines: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        self.monetary_impact = Decimal(self.monetary_impact).quantize(CENT, ROUND_HALF_UP)


def money_fr(amount: Decimal) -> str:
    """An amount the Québec way: `Decimal("64.8")` → `64,80 $`, `-1234.5` → `-1 234,50 $`."""
    return formatting.money(amount)


def date_fr(day: date | None) -> str:
    """ISO date as billing staff read it in the export (`2025-01-10`), or `date inconnue`."""
    return formatting.iso_date(day) or "date inconnue"


def licence(doctor: str) -> str:
    """`BillingRow.doctor` when it is a 7-digit licence, else "" (a name is never a key)."""
    return doctor if len(doctor) == 7 and doctor.isdigit() and doctor.isascii() else ""


class Common:
    """The date and doctor shared by every row a finding is about, gathered row by row.

    `add` costs two identity comparisons in the usual case (the reader shares one date and
    one doctor object per distinct text); a second value makes that field mixed (not set).
    """

    __slots__ = ("day", "doctor", "info", "mixed_day", "mixed_doctor", "seen")

    def __init__(self) -> None:
        self.day: date | None = None
        self.doctor = self.info = ""
        self.seen = self.mixed_day = self.mixed_doctor = False

    def add(self, day: date | None, doctor: str, info: str) -> None:
        if not self.seen:
            self.seen, self.day, self.doctor, self.info = True, day, doctor, info
            return
        if day is not self.day and day != self.day:
            self.mixed_day = True
        if doctor is not self.doctor and doctor != self.doctor:
            self.mixed_doctor = True

    def fill(self, finding: Finding, labels: dict[str, str] | None = None) -> Finding:
        """Set the finding's date, licence and masked doctor from what every row shares;
        `labels` remembers masked names per `Doctor Info` for the run."""
        if not self.mixed_day:
            finding.service_date = self.day
        if not self.mixed_doctor and self.doctor:
            set_doctor(finding, self.doctor, self.info, labels)
        return finding


def set_doctor(finding: Finding, doctor: str, info: str,
               labels: dict[str, str] | None = None) -> Finding:
    """The finding's licence (`doctor` = `BillingRow.doctor`) and masked name (from `info`)."""
    finding.doctor = licence(doctor)
    label = labels.get(info) if labels is not None else None
    if label is None:
        label = mask_doctor(info)
        if labels is not None:
            labels[info] = label
    finding.doctor_label = label
    return finding
