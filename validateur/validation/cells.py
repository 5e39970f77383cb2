"""Typed values of billing cells: amounts, dates, times, units, context tokens, identities,
claim numbers.

Every parser takes the cell text exactly as decoded and returns `None` for an empty cell.
`parse_amount`, `parse_date` and `parse_time` raise `ValueError` for text they cannot read
(never quoting it: the text may be a patient's data); the reader turns that into a
`RowProblem`. The reader caches results per distinct text (values repeat a lot in billing
files), so these functions favour clarity over speed except for the common shapes.

Amounts (our decisions, said in words in docs/file-format.md § Values):

- the decimal mark is `,` or `.`; when both appear, the rightmost one is the decimal mark
  and the other one groups thousands (`1.234,56` and `1,234.56` are both 1234.56);
- a single separator followed by exactly 3 digits after a 1–3 digit integer part that does not
  start with 0 groups thousands (`1,234` is 1234); otherwise it is the decimal mark (`29,9`,
  `49,15`, `12,3456`, `1 234,567`);
- spaces (U+0020, U+00A0, U+202F, U+2009) group thousands (`1 234,56`); groups must be of 3;
- a `$` before or after, a leading `-`/`+`/`−`, a trailing `-` and accounting parentheses
  `(32,40)` (negative) are accepted; anything else (letters, `1e5`, `NaN`) is invalid;
- an amount of `MAX_AMOUNT` (1 000 000 000 $) or more, either sign, is not a billing amount:
  `AmountOutOfRange`. The bound keeps every stored amount, finding impact and run total far
  inside its column (docs/file-format.md § Values).

Claim numbers (`ID RAMQ`, docs/file-format.md § Values): findings may name a
claim, so a cell is a claim number only when it looks like one (`claim_number`); anything
else may be a patient's name pasted in the wrong column and is never shown.
"""

from __future__ import annotations

import re
from datetime import date, time
from decimal import Decimal

from validateur.validation.errors import ValidateurError

_THOUSANDS_SPACES = " \u00a0\u202f\u2009"

_AMOUNT = re.compile(
    r"""
    (?P<open>\()?\s*
    (?P<sign1>[-+\u2212])?\s*
    \$?\s*
    (?P<sign2>[-+\u2212])?\s*
    (?P<number>[0-9][0-9 \u00a0\u202f\u2009.,]*?)
    \s*\$?\s*
    (?P<sign3>-)?\s*
    (?P<close>\))?
    """,
    re.VERBOSE,
)
_GROUPED = re.compile(
    r"[0-9]{1,3}(?:(?P<sep>[ \u00a0\u202f\u2009.,])[0-9]{3})(?:(?P=sep)[0-9]{3})*"
)
_DIGITS = re.compile(r"[0-9]+")
_TRAILING_TIME = re.compile(r"[ T][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?")

#: Amounts from this absolute value on are refused (`AmountOutOfRange`): no billed act comes
#: near it, and it keeps amounts within `billing_records`' Numeric(14, 2) and sums of them
#: within the Numeric(24, 2) of findings and run totals.
MAX_AMOUNT = Decimal(1_000_000_000)


class AmountOutOfRange(ValidateurError, ValueError):
    """A readable amount of `MAX_AMOUNT` or more (never quoting it)."""


#: NAM at the start of `Patient`: 4 letters + 8 digits, possibly masked with x or *.
NAM_AT_START = re.compile(r"\s*([A-Za-z]{4}[0-9xX*]{8})(?![0-9A-Za-z*])")


#: Longest claim number shown (RAMQ claim numbers have about 11 digits).
MAX_CLAIM_LENGTH = 20
#: A claim number: a digit, then digits, capital letters or hyphens (mostly digits: see below).
_CLAIM = re.compile(rf"[0-9][0-9A-Z-]{{0,{MAX_CLAIM_LENGTH - 1}}}")


def claim_number(text: str) -> str | None:
    """The stripped `ID RAMQ` when it is claim-shaped, "" when empty, None when it is not.

    Claim-shaped: at most `MAX_CLAIM_LENGTH` ASCII digits, capital letters and hyphens,
    starting with a digit, more than half of them digits. That keeps every real claim number
    (digits) and refuses what a misplaced cell may hold: a name (`TREMBLAY`, `Jean-Marc`), a
    NAM (4 letters first), a date with spaces, text with punctuation.
    """
    s = text.strip()
    if s.isdigit() and s.isascii() and len(s) <= MAX_CLAIM_LENGTH:
        return s  # the usual case: one C-speed check
    if not s:
        return ""
    if _CLAIM.fullmatch(s) and 2 * sum(c.isdigit() for c in s) > len(s):
        return s
    return None


def parse_amount(text: str) -> Decimal | None:
    """`49,15` → Decimal('49.15'); empty → None; unreadable → ValueError, too large →
    `AmountOutOfRange` (see module doc)."""
    s = text.strip()
    if not s:
        return None
    dotted = s.replace(",", ".")
    head, dot, tail = dotted.partition(".")
    if (
        head.isdigit()
        and head.isascii()
        and (not dot or (0 < len(tail) <= 2 and tail.isdigit() and tail.isascii()))
    ):
        value = Decimal(dotted)
        if len(head) < 10:  # fewer than 10 digits before the decimal mark
            return value
    else:
        value = _parse_amount_general(s)
    if abs(value) >= MAX_AMOUNT:
        raise AmountOutOfRange("montant hors limites")
    return value


def _parse_amount_general(s: str) -> Decimal:
    match = _AMOUNT.fullmatch(s)
    if match is None or bool(match["open"]) != bool(match["close"]):
        raise ValueError("montant illisible")
    signs = [sign for sign in (match["sign1"], match["sign2"], match["sign3"]) if sign]
    if len(signs) > 1 or (signs and match["open"]):
        raise ValueError("montant illisible")
    negative = bool(match["open"]) or (bool(signs) and signs[0] != "+")
    value = Decimal(_plain_number(match["number"]))
    return -value if negative else value


def _plain_number(number: str) -> str:
    """`1 234,56` → `1234.56`; raises ValueError when separators are inconsistent."""
    if number[-1] in _THOUSANDS_SPACES + ".,":
        raise ValueError("montant illisible")
    marks = [i for i, ch in enumerate(number) if ch in ".,"]
    decimal_at = -1
    if marks:
        last = marks[-1]
        digits_after = len(number) - last - 1
        kinds = {number[i] for i in marks}
        lone = len(marks) == 1 and not _groups_thousands(number[:last], digits_after)
        if len(kinds) == 2 or lone:
            decimal_at = last
    integer = number if decimal_at < 0 else number[:decimal_at]
    fraction = "" if decimal_at < 0 else number[decimal_at + 1 :]
    if not (_DIGITS.fullmatch(integer) or _GROUPED.fullmatch(integer)):
        raise ValueError("montant illisible")
    if fraction and not _DIGITS.fullmatch(fraction):
        raise ValueError("montant illisible")
    digits = "".join(ch for ch in integer if ch.isdigit())
    return f"{digits}.{fraction}" if fraction else digits


def _groups_thousands(before: str, digits_after: int) -> bool:
    """A lone `,`/`.` groups thousands only in `1,234`-like text (1–3 digits, no leading 0)."""
    return (
        digits_after == 3
        and 1 <= len(before) <= 3
        and before.isdigit()
        and before.isascii()
        and not before.startswith("0")
    )


def parse_date(text: str) -> date | None:
    """`2025-03-10` (also `2025/03/10`, with a trailing ` 00:00:00`) → date; else ValueError."""
    s = text.strip()
    if not s:
        return None
    if len(s) > 10 and _TRAILING_TIME.fullmatch(s, 10):
        s = s[:10]
    if len(s) != 10 or s[4] not in "-/" or s[7] != s[4]:
        raise ValueError("date illisible")
    digits = s[:4] + s[5:7] + s[8:]
    if not (digits.isdigit() and digits.isascii()):
        raise ValueError("date illisible")
    return date(int(s[:4]), int(s[5:7]), int(s[8:]))


def parse_time(text: str) -> time | None:
    """`09:30`, `9:30`, `09:30:00`, `9h30` → time; empty → None; else ValueError."""
    s = text.strip()
    if not s:
        return None
    parts = s.replace("h", ":").replace("H", ":").split(":")
    if len(parts) not in (2, 3) or not 1 <= len(parts[0]) <= 2:
        raise ValueError("heure illisible")
    if any(len(part) != 2 for part in parts[1:]):
        raise ValueError("heure illisible")
    if not all(part.isdigit() and part.isascii() for part in parts):
        raise ValueError("heure illisible")
    seconds = int(parts[2]) if len(parts) == 3 else 0
    return time(int(parts[0]), int(parts[1]), seconds)


def parse_units(text: str) -> int | None:
    """`2` → 2, `2,00` → 2; empty, fractional or unreadable → None (never a problem)."""
    s = text.strip()
    if s.isdecimal():
        return int(s)
    if not s:
        return None
    try:
        value = parse_amount(s)
    except ValueError:
        return None
    if value is None or value != value.to_integral_value():
        return None
    return int(value)


def context_tokens(text: str) -> frozenset[str]:
    """`85, #g160` → {'85', 'G160'}: split on `,`, trim, upper-case, strip one leading `#`."""
    tokens = (part.strip().upper().removeprefix("#").strip() for part in text.split(","))
    return frozenset(token for token in tokens if token)


def doctor_identity(text: str) -> str:
    """The 7-digit licence opening `Doctor Info` when present, else the trimmed text."""
    s = text.strip()
    licence = s[:7]
    if (
        len(licence) == 7
        and licence.isdigit()
        and licence.isascii()
        and (len(s) == 7 or not s[7].isdigit())
    ):
        return licence
    return s


def patient_identity(text: str) -> str:
    """The upper-cased NAM opening `Patient` when it matches, else the trimmed text."""
    match = NAM_AT_START.match(text)
    return match.group(1).upper() if match else text.strip()
