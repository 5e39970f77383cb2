"""Numbers, money, percentages and dates written the Québec way, in one place.

Pages (Jinja filters), the command line, exports, e-mails and the rules' French messages all
write through these functions, so a clerk reads the same `100 000`, `1 234,56 $` and `49 %`
everywhere:

- integers are grouped by three with a narrow no-break space (U+202F), as the Office québécois
  de la langue française recommends, so a number never breaks across lines;
- money has a decimal comma, two decimals and a no-break space (U+00A0) before `$`, so the
  sign never falls alone on the next line;
- a percentage has a no-break space before `%`;
- dates are ISO, `AAAA-MM-JJ`, as the billing exports write them (calendar dates: no time zone).

Pure standard library: the `validation/` core imports it for its messages.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

#: Groups the digits of a number (narrow no-break space).
GROUP = "\u202f"
#: Before `$` and `%` (no-break space).
NBSP = "\u00a0"
CENT = Decimal("0.01")


def integer(value: int) -> str:
    """`100000` → `100 000` (narrow no-break spaces); negative numbers keep their sign."""
    return f"{value:,}".replace(",", GROUP)


def money(amount: Decimal | int | float | str) -> str:
    """`Decimal("1234.5")` → `1 234,50 $`; `-64.8` → `-64,80 $` (rounded half up to the cent)."""
    quantized = Decimal(amount).quantize(CENT, ROUND_HALF_UP)
    sign = "-" if quantized < 0 else ""
    units, cents = f"{abs(quantized):.2f}".split(".")
    return f"{sign}{integer(int(units))},{cents}{NBSP}$"


def percent(value: int) -> str:
    """`49` → `49 %`."""
    return f"{value}{NBSP}%"


def iso_date(day: date | None) -> str:
    """`2025-01-10`, or an empty string for no date."""
    return day.isoformat() if day else ""
