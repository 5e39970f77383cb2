"""A small checker of the French a billing clerk reads in the rules' messages and solutions.

It knows the nouns and adjectives the rules count (`patient inscrit payé`, `ligne vérifiée`,
...) in both numbers, finds each count followed by them and says where the number does not
agree (French: singular for 0 and 1, plural from 2). It also flags « (s) », counts of 1,000 or
more written without grouping, and any claim not called « réclamation ».
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from validateur.formatting import GROUP

#: Counted words, singular → plural (invariable words map to themselves).
FORMS: dict[str, str] = {
    "patient": "patients",
    "réclamation": "réclamations",
    "ligne": "lignes",
    "erreur": "erreurs",
    "optimisation": "optimisations",
    "minute": "minutes",
    "journée-médecin": "journées-médecin",
    "code": "codes",
    "visite": "visites",
    "inscrit": "inscrits",
    "payé": "payés",
    "payée": "payées",
    "vérifiée": "vérifiées",
    "analysée": "analysées",
    "autre": "autres",
    "fois": "fois",
}
SINGULAR = set(FORMS)
PLURAL = set(FORMS.values())
#: Words that may sit between a count and the words it governs.
TRANSPARENT = {"non", "sans", "rendez-vous"}

_COUNT = re.compile(rf"(?<![\w,./{GROUP}-])(\d{{1,3}}(?:{GROUP}\d{{3}})*|\d+)(?= )")
_CLAIM_NUMBER = re.compile(r"(?<!\d)\d{11}(?!\d)")


def counts(text: str) -> Iterator[tuple[str, list[str]]]:
    """Each number of `text` as written and the counted words that follow it (maybe none)."""
    for match in _COUNT.finditer(text):
        words: list[str] = []
        for raw in text[match.end() :].split(" ")[1:5]:
            if raw.startswith("("):  # a parenthesis opens another group
                break
            word = raw.rstrip(",.;:)")
            if word in TRANSPARENT:
                continue
            if word not in SINGULAR and word not in PLURAL:
                break
            words.append(word)
            if raw != word:  # punctuation ends the group
                break
        yield match.group(1), words


def defects(text: str) -> list[str]:
    """What reads wrong in `text`, each as a short description quoting the text."""
    found = []
    if "(s)" in text:
        found.append("« (s) »")
    if "ID RAMQ" in text:
        found.append("« ID RAMQ » instead of « réclamation »")
    for written, words in counts(text):
        number = int(written.replace(GROUP, ""))
        if words and number >= 1000 and GROUP not in written:
            found.append(f"« {written} {words[0]} »: a count not grouped by three, or a code")
        plural = number >= 2
        for word in words:
            if word in SINGULAR and word in PLURAL:
                continue  # invariable (`fois`)
            if plural and word not in PLURAL:
                found.append(f"« {number} … {word} » should be plural")
            if not plural and word not in SINGULAR:
                found.append(f"« {number} … {word} » should be singular")
    for match in _CLAIM_NUMBER.finditer(text):
        clause = re.split(r"[.;] ", text[: match.start()])[-1]
        if "réclamation" not in clause.lower():
            found.append(f"claim {match.group()} not named « réclamation »")
    return found
