"""Write a fictitious billing CSV in the real 23-column "Facturation journalière" shape.

    python scripts/make_sample_csv.py OUT --rows N [--encoding utf-8|utf-8-sig|cp1252]
        [--delimiter ',' | ';'] [--seed S] [--short-rows]

Every person is invented: NAMs are `TEST` + 8 digits, names come from a short list of common
Québec names (with accents, to exercise encodings), doctors have fake licences. Rows come in
doctor-days of about 30 acts (visits, a few annual codes, GMF 8875, clinical interventions
8857/8859, office fees 19928/19929), so the rules see realistic groups. `--short-rows` writes
data rows with 22 fields (the last column absent), as many real exports do. The file is
streamed to disk: 1,000,000 rows take a few seconds and constant memory.
"""

from __future__ import annotations

import argparse
import csv
import random
from datetime import date, timedelta
from pathlib import Path

HEADER = [
    "#",
    "Facture",
    "ID RAMQ",
    "Date de Service",
    "Début",
    "Fin",
    "Periode",
    "Lieu de pratique",
    "Secteur d'activité",
    "Diagnostic",
    "Code",
    "Unités",
    "Rôle",
    "Élement de contexte",
    "Montant Preliminaire",
    "Montant payé",
    "Doctor Info",
    "DEV NOTE - À TRADUIRE: Report_DailyClaimInfo_TotalPrelAmount",
    "DEV NOTE - À TRADUIRE: Report_DailyClaimInfo_TotalFinalAmount",
    "DEV NOTE - À TRADUIRE: Report_DailyClaimInfo_TotalCount",
    "Agence",
    "Patient",
    "Grand Total",
]

LAST_NAMES = [
    "CÔTÉ", "TREMBLAY", "GAGNON", "BÉLANGER", "LÉVESQUE", "GAUTHIER", "OUELLET", "BOUCHARD",
    "MÉNARD", "PELLETIER", "GIRARD", "LAVOIE", "FORTIN", "DUBÉ", "THÉRIAULT", "BÉDARD",
]  # fmt: skip
FIRST_NAMES = [
    "Ève", "François", "Hélène", "Zoé", "Jérôme", "Noël", "Amélie", "Loïc", "Céline", "André",
    "Marie", "Luc", "Geneviève", "Stéphane", "Josée", "Benoît",
]  # fmt: skip
SPECIALTIES = ["Omnipraticien", "Médecine familiale"]
#: (code, amount claimed, weight): visits dominate, as in real daily reports.
ACTS = [
    ("15804", "49,15", 40),
    ("15808", "29,90", 15),
    ("15815", "73,25", 4),
    ("15819", "57,15", 3),
    ("8875", "9,35", 3),
    ("8857", "59,70", 2),
    ("8859", "29,85", 2),
    ("00093", "18,40", 3),
]
CONTEXTS = ["", "", "", "", "", "G160", "#G160", "85,AR", "ICEP", "CLSC, ICEP", "g160"]
DIAGNOSTICS = ["J069", "I10", "E119", "Z000", "F411", "M545", ""]
PLACES = ["50001", "50001", "50001", "50213", "20001"]
#: The sample's GMF list: its two cabinets (20001 is a hospital), as an installation that
#: imported its GMF establishments would have them.
GMF_PLACES = ["50001", "50213"]
ROWS_PER_DOCTOR_DAY = 30
PATIENTS_PER_DOCTOR = 2_000
DOCTORS = 60


def _doctors(rng: random.Random) -> list[str]:
    return [
        f"{1000000 + 7919 * n:07d}-{10000 + n:05d} | {rng.choice(LAST_NAMES).title()}, "
        f"{rng.choice(FIRST_NAMES)} - {rng.choice(SPECIALTIES)}" + (" " * (n % 3))
        for n in range(DOCTORS)
    ]


def _patient(n: int) -> str:
    last = LAST_NAMES[n % len(LAST_NAMES)]
    first = FIRST_NAMES[n // len(LAST_NAMES) % len(FIRST_NAMES)]
    return f"TEST{n:08d} - {last}, {first}"


def _office_fees(rng: random.Random, count: int) -> list[tuple[str, str, str]]:
    """The day's office fees as (code, amount, context): a mix of right, wrong and missed."""
    roll = rng.random()
    if count < 8 or roll < 0.25:
        return []
    if roll < 0.55:
        return [("19929", "64,80", "")]
    if roll < 0.85:
        return [("19928", "32,40", rng.choice(("", "", "G160")))]
    return [("19928", "32,40", ""), ("19928", "32,40", "#G160")]


def _doctor_day(
    rng: random.Random, doctor_index: int, doctor: str, day: date, first: int, count: int
) -> list[list[str]]:
    """`count` rows of one doctor on one day: acts, then the day's office fees if any."""
    codes, amounts, weights = zip(*ACTS, strict=True)
    fees = _office_fees(rng, count)
    place = PLACES[doctor_index % len(PLACES)]
    minute = 8 * 60
    rows: list[list[str]] = []
    for k in range(count):
        number = first + k
        fee_index = k - (count - len(fees))
        if fee_index >= 0:
            code, amount, context = fees[fee_index]
        else:
            pick = rng.choices(range(len(codes)), weights)[0]
            code, amount, context = codes[pick], amounts[pick], rng.choice(CONTEXTS)
        timed = code in ("8857", "8859") or rng.random() < 0.2
        start, minute = minute, minute + rng.choice((10, 15, 20, 30))
        patient = doctor_index * PATIENTS_PER_DOCTOR + rng.randrange(PATIENTS_PER_DOCTOR)
        paid = amount if rng.random() < 0.8 else "0,00"
        rows.append(
            [
                str(number),
                f"{700000 + number // 2}",
                f"{20000000000 + number}",
                day.isoformat(),
                f"{start // 60:02d}:{start % 60:02d}" if timed else "",
                f"{minute // 60:02d}:{minute % 60:02d}" if timed else "",
                f"P{day.month:02d}",
                place,
                "Aucun Secteur",
                rng.choice(DIAGNOSTICS),
                code,
                "30" if code == "8859" else "1",
                "1",
                context,
                amount,
                paid,
                doctor,
                "1 234 567,89",
                "1 100 000,00",
                "1000000",
                "Agence Test",
                _patient(patient),
                "2 345 678,90",
            ]
        )
    return rows


def write_sample(
    path: Path | str,
    rows: int,
    encoding: str = "cp1252",
    delimiter: str = ";",
    seed: int = 0,
    short_rows: bool = False,
) -> None:
    """Stream `rows` fictitious data rows (plus the header) to `path`."""
    rng = random.Random(seed)
    doctors = _doctors(rng)
    start = date(2025, 1, 6)
    with Path(path).open("w", encoding=encoding, newline="") as out:
        writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
        writer.writerow(HEADER)
        written, group = 0, 0
        while written < rows:
            size = rng.randint(ROWS_PER_DOCTOR_DAY - 12, ROWS_PER_DOCTOR_DAY + 12)
            count = min(rows - written, size)
            doctor_index = group % DOCTORS
            day = start + timedelta(days=group // DOCTORS)
            batch = _doctor_day(rng, doctor_index, doctors[doctor_index], day, written + 1, count)
            writer.writerows([row[:-1] for row in batch] if short_rows else batch)
            written += count
            group += 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--encoding", choices=("utf-8", "utf-8-sig", "cp1252"), default="cp1252")
    parser.add_argument("--delimiter", choices=(",", ";"), default=";")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--short-rows", action="store_true", help="data rows of 22 fields")
    args = parser.parse_args(argv)
    write_sample(args.out, args.rows, args.encoding, args.delimiter, args.seed, args.short_rows)


if __name__ == "__main__":
    main()
