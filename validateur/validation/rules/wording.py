"""French wording shared by the rules: counts that agree in number, and claims named one way.

A billing clerk reads every message, so the rules write counts and claims through these few
functions rather than each its own way:

- a count is written with `formatting.integer` (`1 234`) and its noun agrees with it: French
  puts 0 and 1 in the singular and 2 or more in the plural (`0 erreur`, `1 ligne`,
  `2 lignes`), never « ligne(s) »;
- a claim (`ID RAMQ`) is always a « réclamation »: `réclamation 30000000001`; a row without a
  claim number is named by its row, `réclamation de la ligne 12`.
"""

from __future__ import annotations

from collections.abc import Sequence

from validateur.formatting import integer


def is_plural(count: int) -> bool:
    """French number agreement: plural from 2 (0 and 1 take the singular)."""
    return count >= 2


def agree(count: int, one: str, many: str | None = None) -> str:
    """The form of `one` that agrees with `count` (`many`, else `one` + « s »), without it."""
    if not is_plural(count):
        return one
    return many if many is not None else one + "s"


def count(value: int, one: str, many: str | None = None) -> str:
    """`0 erreur`, `1 ligne`, `1 234 lignes`; `many` is the plural when it is not `one` + « s »
    (`journées-médecin`), or when `one` has several words (`lignes vérifiées`)."""
    return f"{integer(value)} {agree(value, one, many)}"


def claim_number(id_ramq: str, row: int) -> str:
    """A claim in a list that follows « réclamations » : `30000000001`, or `ligne 12`."""
    return id_ramq or f"ligne {integer(row)}"


def claim(id_ramq: str, row: int) -> str:
    """One claim named in a sentence: `réclamation 30000000001`, `réclamation de la ligne 12`."""
    return f"réclamation {id_ramq}" if id_ramq else f"réclamation de la ligne {integer(row)}"


def enumerate_fr(items: Sequence[str]) -> str:
    """`a`, `a et b`, `a, b et c`."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} et {items[-1]}"


def claims(numbers: Sequence[str]) -> str:
    """Claims named in a sentence: `réclamation X`, `réclamations X et Y` (`numbers` from
    `claim_number`)."""
    return f"{agree(len(numbers), 'réclamation')} {enumerate_fr(numbers)}"
