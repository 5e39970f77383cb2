"""Jinja filters for the French pages: money, dates, statuses, masked people."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask

from validateur.validation.findings import money_fr

MONTREAL = ZoneInfo("America/Montreal")
STATUS_FR = {"queued": "En file d'attente", "processing": "En cours", "completed": "Terminée",
             "failed": "Échouée", "cancelled": "Annulée"}
PHASE_FR = {"queued": "en attente", "parsing": "lecture et enregistrement",
            "validating": "application des règles", "saving": "enregistrement des constats",
            "done": "terminé"}
PERSON_KEYS = ("patient", "patientMasked", "maskedPatient", "doctor", "doctorMasked")


def money(value: Decimal | int | None) -> str:
    return money_fr(Decimal(value or 0))


def when(value: datetime | None) -> str:
    return value.astimezone(MONTREAL).strftime("%Y-%m-%d %H:%M") if value else ""


def masked_person(data: dict[str, Any] | None) -> str:
    """The masked identities a rule put in a finding's data (never a clear name)."""
    if not data:
        return ""
    shown = [str(data[key]) for key in PERSON_KEYS if isinstance(data.get(key), str)]
    return " · ".join(dict.fromkeys(shown))


def init_app(app: Flask) -> None:
    app.add_template_filter(money, "money")
    app.add_template_filter(when, "when")
    app.add_template_filter(lambda s: STATUS_FR.get(s, s), "status_fr")
    app.add_template_filter(lambda s: PHASE_FR.get(s, s), "phase_fr")
    app.add_template_filter(masked_person, "masked_person")
