"""French texts of the `structure` rule: messages and solutions for billing staff.

Messages name the lines (as a spreadsheet numbers them), the column (its header text), the
code, and the bad value of a date, time or amount when it looks like one (`quotable_value`),
never another cell's value: claim numbers come from `BillingRow.claim`, which is
empty unless the cell is claim-shaped (an `invalid-claim` warning says so), and a code that
does not look like one is shown as `(illisible)`, since a shifted row may carry a patient's name
in those columns.
Counts go through `formatting.integer` (`1 000`); row numbers are positions, like page
numbers, and are written without grouping (`ligne 1990`).
"""

from __future__ import annotations

import re

from validateur.formatting import NBSP, integer
from validateur.validation.cells import MAX_AMOUNT
from validateur.validation.findings import Finding, Severity
from validateur.validation.rows import COLUMN_LABELS, Column, Problem

SLUG = "structure"
INVALID_NAM = "invalid-nam"
DUPLICATE_CLAIM = "duplicate-claim"
UNKNOWN_CODE = "unknown-code"
NO_DATA = "no-data"
#: Row-level scenarios that are warnings (the others are errors).
WARNINGS = frozenset({
    Problem.INVALID_CHARACTER.value, Problem.INVALID_CLAIM.value, INVALID_NAM, UNKNOWN_CODE,
})  # fmt: skip
_MAX_AMOUNT = f"{integer(int(MAX_AMOUNT))}{NBSP}$"
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
    Problem.AMOUNT_OUT_OF_RANGE.value: (
        "le montant de la colonne « {label} » atteint " + _MAX_AMOUNT + " ou plus : ce n'est "
        "pas un montant de facturation",
        "Corrigez le montant (par exemple 49,15) : il a été ignoré par les autres vérifications.",
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
    Problem.INVALID_CHARACTER.value: (
        "la colonne « {label} » contient un caractère invalide (octet nul ou caractère "
        "illisible)",
        "Vérifiez cette valeur dans le logiciel de facturation : le fichier a été endommagé ou "
        "enregistré dans un autre encodage. Les octets nuls ont été retirés ; un caractère "
        "illisible est conservé sous la forme « \ufffd ».",
    ),
    INVALID_NAM: (
        "la colonne « {label} » ne commence pas par un NAM (4 lettres et 8 chiffres)",
        "Vérifiez le numéro d'assurance maladie du patient.",
    ),
    Problem.INVALID_CLAIM.value: (
        "la colonne « {label} » ne contient pas un numéro de réclamation ; sa valeur n'est pas "
        "affichée",
        "Vérifiez cette colonne dans le logiciel de facturation : elle doit contenir le numéro "
        "de réclamation de la RAMQ (des chiffres). Les autres vérifications désignent cette "
        "ligne par son numéro.",
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
    Problem.AMOUNT_OUT_OF_RANGE.value: "de montants hors limites",
    Problem.INVALID_TIME.value: "d'heures invalides",
    Problem.EXTRA_CELLS.value: "de lignes avec des cellules en trop",
    Problem.INVALID_CHARACTER.value: "de caractères invalides",
    INVALID_NAM: "de patients sans NAM",
    Problem.INVALID_CLAIM.value: "de numéros de réclamation invalides",
    DUPLICATE_CLAIM: "de réclamations en double",
    UNKNOWN_CODE: "de codes inconnus",
}
_SHOWABLE = re.compile(r"[0-9A-Za-z-]{1,20}")


def showable(text: str) -> str:
    """A code as it may appear in a message; anything odd is not quoted."""
    return text if _SHOWABLE.fullmatch(text) else "(illisible)"


def rows_fr(rows: list[int]) -> str:
    """[3, 17, 20] → `lignes 3, 17 et 20`; [3] → `ligne 3`."""
    shown = [str(row) for row in rows[:MAX_ROWS_IN_MESSAGE]]
    if len(rows) > MAX_ROWS_IN_MESSAGE:
        return "lignes " + ", ".join(shown) + "…"
    if len(shown) == 1:
        return "ligne " + shown[0]
    return "lignes " + ", ".join(shown[:-1]) + " et " + shown[-1]


#: What a finding is about within its scenario: (column or None, quoted value or code, or "").
Subject = tuple[Column | None, str]
#: A value a structure finding may quote: digits and the separators of dates, times and amounts
#: (at least one digit, no letter but the `h` of `9h30`), so a name or a NAM is never shown.
_QUOTABLE = re.compile(r"(?=.*[0-9])[0-9 \u00a0\u202f.,:/()$+\-\u2212hH]{1,24}")
#: The same problem on several lines, where the single-line text does not fit.
PLURAL_TEXT: dict[str, str] = {
    Problem.EXTRA_CELLS.value: "ces lignes contiennent plus de cellules que l'en-tête",
}


def quotable_value(text: str) -> str:
    """The stripped bad value of a date, time or amount cell when it may be quoted, else ""."""
    value = text.strip()
    return value if _QUOTABLE.fullmatch(value) else ""


def lines_fr(lines: list[int], count: int) -> str:
    """Where a finding is, as a spreadsheet numbers the lines: `Ligne 5`, `Lignes 5 et 9`,
    `172 lignes (5, 19, 22, …)` (only the first `MAX_ROWS_IN_MESSAGE` are named)."""
    shown = [str(line) for line in lines[:MAX_ROWS_IN_MESSAGE]]
    if count == 1 and shown:
        return "Ligne " + shown[0]
    if count > len(shown) or count > MAX_ROWS_IN_MESSAGE:
        return f"{integer(count)} lignes ({', '.join(shown)}, …)"
    return "Lignes " + ", ".join(shown[:-1]) + " et " + shown[-1]


def _what(scenario: str, label: str, value: str, several: bool) -> str:
    """The problem in words, quoting the bad value of a date, time or amount when given."""
    if several and scenario in PLURAL_TEXT:
        return PLURAL_TEXT[scenario]
    what = PROBLEM_TEXT[scenario][0]
    if value and scenario != UNKNOWN_CODE:
        quoted = f"« {value} » de la colonne"
        what = what.replace("de la colonne", quoted, 1)
    return what.format(label=label, code=value)


def subject_finding(scenario: str, column: Column | None, value: str, count: int,
                    hits: list[tuple[int, int, str]]) -> Finding:
    """One finding for every row of a (scenario, subject): `hits` are the listed (row, file
    line, claim) in row order, `count` how many rows have it (`hits` may hold fewer)."""
    label = COLUMN_LABELS[column] if column else ""
    solution = PROBLEM_TEXT[scenario][1]
    rows = tuple(hit[0] for hit in hits)
    lines = tuple(hit[1] for hit in hits)
    claims = tuple(dict.fromkeys(hit[2] for hit in hits if hit[2]))
    shown_lines = list(lines) if all(lines) else list(rows)  # rows built without a line
    data: dict[str, object] = {"count": count}
    if column:
        data["column"] = label
    if value:
        data["code" if scenario == UNKNOWN_CODE else "value"] = value
    message = f"{lines_fr(shown_lines, count)} : {_what(scenario, label, value, count > 1)}."
    if count > len(hits):
        message += f" Seules les {integer(len(hits))} premières lignes sont listées."
    return Finding(
        rule=SLUG,
        scenario=scenario,
        severity=Severity.WARNING if scenario in WARNINGS else Severity.ERROR,
        message=message,
        solution=solution.format(label=label),
        rows=rows,
        id_ramq=claims,
        data=data,
        lines=lines if all(lines) else (),
    )


def duplicate_finding(claim: str, code: str, count: int, rows: list[int]) -> Finding:
    """The claim `claim` (claim-shaped: `BillingRow.claim`) carries `code` `count` times, on
    `rows` (sorted)."""
    shown_code = showable(code)
    return Finding(
        rule=SLUG,
        scenario=DUPLICATE_CLAIM,
        severity=Severity.WARNING,
        message=(
            f"La réclamation {claim} contient le code {shown_code} {integer(count)} fois "
            f"({rows_fr(rows)})."
        ),
        solution="Vérifiez s'il s'agit d'un doublon et annulez la ligne en trop auprès de la RAMQ.",
        rows=tuple(rows),
        id_ramq=(claim,),
        data={"idRamq": claim, "code": shown_code, "count": count, "rows": rows},
    )


def omitted_finding(scenario: str, count: int, limit: int) -> Finding:
    """The `info` finding that closes a capped scenario."""
    what = OMITTED_WHAT[scenario]
    left_out = (
        f"1 autre cas {what} n'est pas détaillé" if count == 1
        else f"{integer(count)} autres cas {what} ne sont pas détaillés"
    )
    return Finding(
        rule=SLUG,
        scenario=scenario,
        severity=Severity.INFO,
        message=f"{left_out} : seuls les {integer(limit)} premiers sont listés.",
        solution="Corrigez les problèmes détaillés, puis validez le fichier à nouveau.",
        data={"omitted": count, "limit": limit},
    )


def no_data_finding() -> Finding:
    """The warning of a file with a header and no data row."""
    return Finding(
        rule=SLUG,
        scenario=NO_DATA,
        severity=Severity.WARNING,
        message="Le fichier ne contient aucune ligne de données.",
        solution=(
            "Vérifiez la période choisie dans le logiciel de facturation, puis exportez à "
            "nouveau le rapport « Facturation journalière » : seule la ligne d'en-tête a été "
            "trouvée."
        ),
    )
