"""Masking of patients and doctors for anything shown outside `billing_records`.

Pages, findings and exports may need to point at a person; they show `ABCD****5678` for a
patient's NAM and `Dr. X***` for a doctor (first letter of the last name), never more.
"""

from __future__ import annotations

import re

_NAM = re.compile(r"^([A-Za-z]{4})([0-9xX*]{4})([0-9xX*]{4})")


def mask_patient(patient_id: str) -> str:
    """Mask a NAM as `ABCD****5678`; anything that is not a NAM becomes `****`."""
    match = _NAM.match(patient_id.strip())
    if not match:
        return "****"
    return f"{match.group(1).upper()}****{match.group(3)}"


def mask_doctor(doctor_info: str) -> str:
    """`1234567-12345 | Tremblay, Marie - Omni` → `Dr. T***`; no name found → `Dr. ***`."""
    name_part = doctor_info.split("|", 1)[1] if "|" in doctor_info else doctor_info
    name_part = re.sub(r"^[\s0-9-]+", "", name_part).strip()
    initial = next((ch for ch in name_part if ch.isalpha()), "")
    return f"Dr. {initial.upper()}***" if initial else "Dr. ***"
