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
    """One finding. `monetary_impact` < 0 is revenue at risk, > 0 revenue to gain."""

    rule: str
    scenario: str
    severity: Severity
    message: str
    solution: str = ""
    rows: tuple[int, ...] = ()
    id_ramq: tuple[str, ...] = ()
    monetary_impact: Decimal = Decimal("0.00")
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.monetary_impact = Decimal(self.monetary_impact).quantize(CENT, ROUND_HALF_UP)


def money_fr(amount: Decimal) -> str:
    """An amount the Québec way: `Decimal("64.8")` → `64,80 $`, `-1234.5` → `-1 234,50 $`."""
    return formatting.money(amount)


def date_fr(day: date | None) -> str:
    """ISO date as billing staff read it in the export (`2025-01-10`), or `date inconnue`."""
    return formatting.iso_date(day) or "date inconnue"
