"""French texts of the `structure` rule: messages and solutions for billing staff.

Messages name the row number, the column (its header text), the claim number and the code,
never another cell's value: a claim number or code that does not look like one is shown as
`(illisible)`, since a shifted row may carry a patient's name in those columns.
"""

from __future__ import annotations

import re

from validateur.validation.findings import Finding, Severity
from validateur.validation.rows import COLUMN_LABELS, Column, Problem

SLUG = "structure"
INVALID_NAM = "invalid-nam"
DUPLICATE_CLAIM = "duplicate-claim"
UNKNOWN_CODE = "unknown-code"
#: Rows named in one duplicate finding's message (`rows` holds more).
MAX_ROWS_IN_MESSAGE = 10

PROBLEM_TEXT: dict[str, tuple[str, str]] = {
    Problem.MISSING_VALUE.value: (
        "la colonne « {label} » est vide",
        "Complétez la colonne « {label} » dans le logiciel de facturation, puis exportez le "
        "fichier à nouveau.",
    ),
    Problem.INVALID_DATE.value: (
        "la date de la colonne « {label} » est invalide",
        "Corrigez la date au format AAAA-MM-JJ (par exemple 2025-03-10).",
    ),
    Problem.INVALID_AMOUNT.value: (
        "le montant de la colonne « {label} » est illisible",
        "Corrigez le montant (par exemple 49,15).",
    ),
    Problem.INVALID_TIME.value: (
        "l'heure de la colonne « {label} » est invalide",
        "Corrigez l'heure au format HH:MM (par exemple 09:30).",
    ),
    Problem.EXTRA_CELLS.value: (
        "la ligne contient plus de cellules que l'en-tête",
        "Vérifiez qu'aucune cellule ne contient le séparateur (« ; » ou « , ») sans "
        "guillemets : les valeurs de cette ligne sont peut-être décalées.",
    ),
    INVALID_NAM: (
        "la colonne « {label} » ne commence pas par un NAM (4 lettres et 8 chiffres)",
        "Vérifiez le numéro d'assurance maladie du patient.",
    ),
    UNKNOWN_CODE: (
        "le code {code} est absent du manuel de facturation de la RAMQ",
        "Vérifiez le code de facturation de cette ligne.",
    ),
}
OMITTED_WHAT: dict[str, str] = {
    Problem.MISSING_VALUE.value: "de valeurs manquantes",
    Problem.INVALID_DATE.value: "de dates invalides",
    Problem.INVALID_AMOUNT.value: "de montants illisibles",
    Problem.INVALID_TIME.value: "d'heures invalides",
    Problem.EXTRA_CELLS.value: "de lignes avec des cellules en trop",
    INVALID_NAM: "de patients sans NAM",
    DUPLICATE_CLAIM: "de demandes en double",
    UNKNOWN_CODE: "de codes inconnus",
}
_SHOWABLE = re.compile(r"[0-9A-Za-z-]{1,20}")


def showable(text: str) -> str:
    """A claim number or code as it may appear in a message; anything odd is not quoted."""
    return text if _SHOWABLE.fullmatch(text) else "(illisible)"


def rows_fr(rows: list[int]) -> str:
    """[3, 17, 20] → `lignes 3, 17 et 20`."""
    shown = [str(row) for row in rows[:MAX_ROWS_IN_MESSAGE]]
    if len(rows) > MAX_ROWS_IN_MESSAGE:
        return "lignes " + ", ".join(shown) + "…"
    return "lignes " + ", ".join(shown[:-1]) + " et " + shown[-1]


def row_finding(scenario: str, number: int, column: str, id_ramq: str, code: str) -> Finding:
    """One row-level finding: `column` is a `Column` value or "", `code` only for unknown codes."""
    label = COLUMN_LABELS[Column(column)] if column else ""
    what, solution = PROBLEM_TEXT[scenario]
    warning = scenario in (INVALID_NAM, UNKNOWN_CODE)
    data: dict[str, object] = {"row": number}
    if column:
        data["column"] = label
    if code:
        data["code"] = showable(code)
    return Finding(
        rule=SLUG,
        scenario=scenario,
        severity=Severity.WARNING if warning else Severity.ERROR,
        message=f"Ligne {number} : " + what.format(label=label, code=showable(code)) + ".",
        solution=solution.format(label=label),
        rows=(number,),
        id_ramq=(id_ramq,) if id_ramq else (),
        data=data,
    )


def duplicate_finding(id_ramq: str, code: str, count: int, rows: list[int]) -> Finding:
    """The claim `id_ramq` carries `code` `count` times, on `rows` (sorted)."""
    shown_id, shown_code = showable(id_ramq), showable(code)
    return Finding(
        rule=SLUG,
        scenario=DUPLICATE_CLAIM,
        severity=Severity.WARNING,
        message=(
            f"La demande {shown_id} contient le code {shown_code} {count} fois ({rows_fr(rows)})."
        ),
        solution="Vérifiez s'il s'agit d'un doublon et annulez la ligne en trop auprès de la RAMQ.",
        rows=tuple(rows),
        id_ramq=(id_ramq,),
        data={"idRamq": shown_id, "code": shown_code, "count": count, "rows": rows},
    )


def omitted_finding(scenario: str, count: int, limit: int) -> Finding:
    """The `info` finding that closes a capped scenario."""
    shown_limit = f"{limit:,}".replace(",", "\u00a0")
    more = f"{count:,}".replace(",", "\u00a0")
    return Finding(
        rule=SLUG,
        scenario=scenario,
        severity=Severity.INFO,
        message=(
            f"{more} autres cas {OMITTED_WHAT[scenario]} ne sont pas détaillés : seuls les "
            f"{shown_limit} premiers sont listés."
        ),
        solution="Corrigez les problèmes détaillés, puis validez le fichier à nouveau.",
        data={"omitted": count, "limit": limit},
    )
