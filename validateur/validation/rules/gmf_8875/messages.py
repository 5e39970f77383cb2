"""French wording of the `gmf-8875` findings (docs/rules.md): messages, solutions and data.

This module only writes: which scenario fires is decided in `gmf_8875`. Texts name claim
numbers (`ID RAMQ`, or the row number when it is empty), dates, codes and amounts; the patient
appears only masked (`ABCD****5678`) in `data`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Final

from validateur.validation.findings import Finding, Severity, money_fr
from validateur.validation.privacy import mask_patient
from validateur.validation.rules import wording

SLUG = "gmf-8875"

#: The GMF registration forfait code and its RAMQ tariff (the reference table is wrong for it).
GMF_FORFAIT_CODE = "8875"
GMF_FORFAIT_TARIFF = Decimal("9.35")
_TARIFF_FR = money_fr(GMF_FORFAIT_TARIFF)
_TARIFF_TEXT = str(GMF_FORFAIT_TARIFF)
_NO_IMPACT = Decimal(0)

PatientYear = tuple[str, int]
#: The facts kept for one 8875 row or one GMF visit: (date, row, ID RAMQ, code, paid,
#: `BillingRow.doctor`, `Doctor Info` shared per distinct text).
Act = tuple[date, int, str, str, bool, str, str]
DAY: Final = 0
ROW: Final = 1
CLAIM: Final = 2
CODE: Final = 3
PAID: Final = 4
DOCTOR: Final = 5
DOCTOR_INFO: Final = 6


def claim(act: Act) -> str:
    """`réclamation 30000000001`."""
    return wording.claim(act[CLAIM], act[ROW])


def e1(key: PatientYear, kept: Act, other: Act) -> Finding:
    """E1: an 8875 of a patient-year whose first paid one is `kept`."""
    patient, year = key
    paid, day, kept_day = other[PAID], other[DAY].isoformat(), kept[DAY].isoformat()
    message = (
        f"Forfait GMF {GMF_FORFAIT_CODE} en trop le {day} ({claim(other)}, "
        f"{'payée' if paid else 'non payée'}) : le forfait de ce patient pour {year} a été payé "
        f"le {kept_day} ({claim(kept)}), et un seul est payable par patient et par année civile."
    )
    solution = f"Annulez la {claim(other)}" + (
        f" : la RAMQ peut récupérer les {_TARIFF_FR} payés." if paid else "."
    )
    data = {
        "code": GMF_FORFAIT_CODE,
        "patient": mask_patient(patient),
        "year": year,
        "date": day,
        "paid": paid,
        "firstPaidDate": kept_day,
        "firstPaidClaim": kept[CLAIM],
        "firstPaidRow": kept[ROW],
        "tariff": _TARIFF_TEXT,
    }
    impact = -GMF_FORFAIT_TARIFF if paid else _NO_IMPACT
    rows, claims = (other[ROW],), (other[CLAIM],)
    return Finding(SLUG, "E1", Severity.ERROR, message, solution, rows, claims, impact, data)


def missed(key: PatientYear, visit: Act) -> Finding:
    """MISSED: the first GMF visit of a patient-year without any 8875."""
    patient, year = key
    day = visit[DAY].isoformat()
    message = (
        f"Patient vu en GMF le {day} ({claim(visit)}, code {visit[CODE]}) sans "
        f"forfait {GMF_FORFAIT_CODE} facturé en {year}."
    )
    solution = (
        f"Si le patient est inscrit au GMF, facturez le forfait {GMF_FORFAIT_CODE} "
        f"({_TARIFF_FR}) avec la visite du {day}."
    )
    data = {
        "code": GMF_FORFAIT_CODE,
        "visitCode": visit[CODE],
        "patient": mask_patient(patient),
        "year": year,
        "date": day,
        "tariff": _TARIFF_TEXT,
    }
    rows, claims = (visit[ROW],), (visit[CLAIM],)
    return Finding(
        SLUG, "MISSED", Severity.OPTIMIZATION, message, solution, rows, claims,
        GMF_FORFAIT_TARIFF, data,
    )  # fmt: skip


def skipped() -> Finding:
    return Finding(
        rule=SLUG,
        scenario="SKIPPED",
        severity=Severity.INFO,
        message=(
            "La liste des établissements GMF n'est pas chargée : la recherche des forfaits "
            f"{GMF_FORFAIT_CODE} manquants n'a pas été faite (les doublons ont été vérifiés)."
        ),
        solution=(
            "Demandez à un administrateur d'importer la liste des établissements GMF, "
            "puis relancez la validation."
        ),
        data={"gmfEstablishments": 0},
    )
