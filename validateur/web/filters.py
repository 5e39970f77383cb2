"""Jinja filters: every number, amount, date and code a page shows, written for a Québec clerk.

Numbers go through `validateur.formatting`, the service's codes through `validateur.labels`,
rule and scenario codes through the rules' catalogue, so a page never shows `office-fee`,
`MISSED` or `viewer` where a person reads, nor `100000` or `1234.5 $`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from markupsafe import Markup

from validateur import formatting, labels
from validateur.validation.catalogue import rule_title, scenario_title

MONTREAL = ZoneInfo("America/Montreal")
PERSON_KEYS = ("patient", "patientMasked", "maskedPatient", "doctor", "doctorMasked")
KIB = 1024


def integer(value: int | None) -> str:
    """`100000` → `100 000`."""
    return formatting.integer(int(value or 0))


def money(value: Decimal | int | None) -> str:
    """`1234.5` → `1 234,50 $`."""
    return formatting.money(Decimal(value or 0))


def percent(value: int | None) -> str:
    """`49` → `49 %`."""
    return formatting.percent(int(value or 0))


def iso_date(value: Any) -> str:
    return formatting.iso_date(value)


def when(value: datetime | None, seconds: bool = False) -> str:
    """A moment as a Montréal clerk's clock shows it: `2025-03-10 14:05` (`14:05:09`)."""
    if value is None:
        return ""
    return value.astimezone(MONTREAL).strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else ""))


def plural(count: int | None, one: str, many: str | None = None) -> str:
    """`1 constat`, `2 constats`, `100 000 lignes` (French: the plural starts at 2)."""
    number = int(count or 0)
    word = one if number < 2 else (many or one + "s")
    return f"{formatting.integer(number)} {word}"


def file_size(size: int | None) -> str:
    """`245 Ko`, `1,2 Mo` (the browser's picker shows the same size, see upload.js)."""
    value = int(size or 0)
    if value < KIB:
        return plural(value, "octet")
    if value < KIB * KIB:  # rounded half up, in integers (the script does the same)
        return f"{formatting.integer((value + KIB // 2) // KIB)} Ko"
    tenths = (value * 10 + KIB * KIB // 2) // (KIB * KIB)
    return f"{formatting.integer(tenths // 10)},{tenths % 10} Mo"


def ordinal(number: int) -> Markup:
    """`1` → `1<sup>re</sup>`, `3` → `3<sup>e</sup>`: the French ordinal abbreviations (« la
    file » is feminine), the letters raised. run.js writes the same."""
    suffix = "re" if number == 1 else "e"
    return Markup(f"{formatting.integer(number)}<sup>{suffix}</sup>")


def queue_place(position: int | None) -> Markup:
    """`3<sup>e</sup> dans la file d'attente`; nothing when not in line."""
    if not position:
        return Markup("")
    return ordinal(int(position)) + Markup(" dans la file d’attente")


def duration(seconds: float | None) -> str:
    """`45 s`, `3 min 12 s`, `2 h 05 min`: how long something has waited."""
    total = int(seconds or 0)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{formatting.integer(hours)} h {minutes:02d} min"


def masked_person(data: dict[str, Any] | None) -> str:
    """The masked identities a rule put in a finding's data (never a clear name)."""
    if not data:
        return ""
    shown = [str(data[key]) for key in PERSON_KEYS if isinstance(data.get(key), str)]
    return " · ".join(dict.fromkeys(shown))


def _labelled(catalogue: dict[str, str]) -> Any:
    return lambda code: labels.label(catalogue, code)


def init_app(app: Flask) -> None:
    for name, function in {
        "integer": integer, "money": money, "percent": percent, "iso_date": iso_date,
        "when": when, "plural": plural, "file_size": file_size,
        "masked_person": masked_person, "ordinal": ordinal, "queue_place": queue_place,
        "duration": duration,
        "rule_title": rule_title, "scenario_title": scenario_title,
        "status_label": _labelled(labels.STATUS),
        "batch_status_label": _labelled(labels.BATCH_STATUS),
        "phase_label": _labelled(labels.PHASE),
        "role_label": _labelled(labels.ROLE), "severity_label": _labelled(labels.SEVERITY),
        "severities_label": _labelled(labels.SEVERITY_PLURAL),
        "category_label": _labelled(labels.CATEGORY), "plan_label": _labelled(labels.PLAN),
        "event_label": _labelled(labels.EVENT),
        "delivery_label": _labelled(labels.DELIVERY_STATE),
    }.items():
        app.add_template_filter(function, name)
    app.jinja_env.globals["labels"] = labels
