"""French titles of every rule and every scenario: what a billing clerk reads as a heading.

Slugs (`office-fee`) and scenario codes (`MISSED`) are stable identifiers for the API and the
exports; people read these titles instead, with the code beside them as a small label. Every
scenario a rule can produce has a title here (a test walks the rules' scenario lists).
"""

from __future__ import annotations

from decimal import Decimal

from validateur.formatting import money

RULE_TITLES: dict[str, str] = {
    "structure": "Structure du fichier",
    "office-fee": "Frais de cabinet (19928 et 19929)",
    "annual-code": "Codes annuels (une fois par patient et par année)",
    "gmf-8875": "Forfait d'inscription GMF (8875)",
    "clinical-minutes": "Interventions cliniques (180 minutes par jour)",
    "visit-duration": "Durée des visites",
    "rule-crashed": "Règle interrompue",
}

SCENARIO_TITLES: dict[tuple[str, str], str] = {
    ("structure", "missing-value"): "Valeur obligatoire manquante",
    ("structure", "invalid-date"): "Date invalide",
    ("structure", "invalid-amount"): "Montant illisible",
    ("structure", "amount-out-of-range"): "Montant hors limites",
    ("structure", "invalid-time"): "Heure invalide",
    ("structure", "extra-cells"): "Cellules en trop",
    ("structure", "invalid-nam"): "Patient sans NAM",
    ("structure", "invalid-claim"): "Numéro de réclamation invalide",
    ("structure", "invalid-character"): "Caractère invalide",
    ("structure", "duplicate-claim"): "Réclamation en double",
    ("structure", "unknown-code"): "Code absent du manuel de la RAMQ",
    ("structure", "no-data"): "Fichier sans données",
    ("office-fee", "ESTABLISHMENT"): "Frais de cabinet facturés hors cabinet",
    ("office-fee", "E1"): "19928 pour patients inscrits : moins de 6 patients payés",
    ("office-fee", "E2"): "19928 pour patients sans rendez-vous : moins de 10 patients payés",
    ("office-fee", "E3"): "19929 pour patients inscrits : moins de 12 patients payés",
    ("office-fee", "E4"): "19929 pour patients sans rendez-vous : moins de 20 patients payés",
    ("office-fee", "E5"): f"Maximum quotidien de {money(Decimal('64.80'))} dépassé",
    ("office-fee", "E6"): (
        "19928 pour patients inscrits facturé avec un 19929 pour patients sans rendez-vous"
    ),
    ("office-fee", "E8"): (
        "19928 pour patients sans rendez-vous facturé avec un 19929 pour patients inscrits"
    ),
    ("office-fee", "O1"): "19929 pour patients inscrits possible au lieu du 19928",
    ("office-fee", "O2"): "19929 pour patients sans rendez-vous possible au lieu du 19928",
    ("office-fee", "O3"): "19928 pour patients sans rendez-vous à ajouter",
    ("office-fee", "O4"): "19928 pour patients inscrits à ajouter",
    ("office-fee", "MISSED"): "Frais de cabinet non facturés",
    ("office-fee", "P1"): "19928 pour patients inscrits conforme",
    ("office-fee", "P2"): "19928 pour patients sans rendez-vous conforme",
    ("office-fee", "P3"): "19929 pour patients inscrits conforme",
    ("office-fee", "P4"): "19929 pour patients sans rendez-vous conforme",
    ("office-fee", "SUMMARY"): "Sommaire des frais de cabinet",
    ("annual-code", "P1"): "Code annuel facturé une seule fois",
    ("annual-code", "E1"): "Code annuel payé plus d'une fois dans l'année",
    ("annual-code", "E2"): "Code annuel facturé plusieurs fois, un seul payé",
    ("annual-code", "E3"): "Code annuel facturé plusieurs fois, aucun payé",
    ("annual-code", "SUMMARY"): "Sommaire des codes annuels",
    ("gmf-8875", "E1"): "Forfait 8875 facturé plus d'une fois dans l'année",
    ("gmf-8875", "MISSED"): "Forfait 8875 non facturé",
    ("gmf-8875", "SKIPPED"): "Forfaits 8875 manquants non recherchés : liste des GMF absente",
    ("clinical-minutes", "OVER_LIMIT"): "Plus de 180 minutes d'interventions dans la journée",
    ("clinical-minutes", "OVER_LIMIT_PAID"): "Plus de 180 minutes d'interventions, toutes payées",
    ("visit-duration", "O1"): "Visite mieux payée en intervention clinique",
    ("visit-duration", "SKIPPED"): "Comparaison non faite : table des codes absente",
    ("rule-crashed", "CRASH"): "Règle interrompue par une erreur technique",
}


def rule_title(slug: str) -> str:
    """The French title of a rule; an unknown slug is shown as itself."""
    return RULE_TITLES.get(slug, slug)


def scenario_title(rule: str, scenario: str) -> str:
    """The French title of one scenario of a rule; an unknown one is shown as its code."""
    return SCENARIO_TITLES.get((rule, scenario), scenario)
