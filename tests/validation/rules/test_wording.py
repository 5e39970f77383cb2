"""Every scenario of every rule, with counts of 0, 1 and 2 or more, reads as correct French.

Each rule is run on inputs that produce each of its scenarios (checked against its
`SCENARIOS`) with the counts its texts carry at 0, 1, 2+ and in the thousands; every message
and solution then goes through the checker of `french.py`: no « (s) », numbers that agree with
their nouns, counts grouped by three, claims always called « réclamation ».
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from itertools import count, product

import pytest

from tests.validation.factories import make_row
from tests.validation.rules.french import counts, defects
from validateur.validation.engine import Engine, ReferenceData
from validateur.validation.findings import Finding
from validateur.validation.rows import BillingRow
from validateur.validation.rules import RULES, build_rules, scenarios

GMF_AND_CODES = ReferenceData(
    consultation_codes=frozenset({"15804"}), gmf_establishments=frozenset({"50001"})
)
#: Rules whose texts this test reads; `structure` writes its own (another module's tests).
CHECKED = ("office-fee", "annual-code", "gmf-8875", "clinical-minutes", "visit-duration")
_rows = count(1)
_patients = count(1)


def row(**cells: object) -> BillingRow:
    """A row numbered in one sequence across the test; `id_ramq=""` leaves it without one."""
    id_ramq = cells.pop("id_ramq", None)
    made = make_row(row_number=next(_rows), **cells)  # type: ignore[arg-type]
    if id_ramq == "":
        made.id_ramq = ""
    return made


def run(slug: str, rows: Iterable[BillingRow], reference: ReferenceData) -> list[Finding]:
    [rule] = build_rules(reference, only=[slug])
    for one in rows:
        rule.feed(one)
    return list(rule.finish())


def doctor(n: int) -> str:
    return f"{1000000 + n:07d}-12345 | Nom{n}, Marie - Omnipraticien"


# --- inputs per rule ---------------------------------------------------------------------

#: Office-fee doctor-days: paid / unpaid registered and walk-in patients, then the fees.
REGISTERED_PAID = (0, 1, 2, 5, 6, 12, 15)
WALK_IN_PAID = (0, 1, 2, 9, 10, 20, 23)
UNPAID = (0, 1, 2)
FEE_SETS: tuple[tuple[tuple[str, bool, str], ...], ...] = (
    (),
    (("19928", False, "50001"),),
    (("19928", True, "50001"),),
    (("19929", False, "50001"),),
    (("19929", True, "50001"),),
    (("19928", False, "50001"), ("19928", True, "50001")),
    (("19929", False, "50001"), ("19929", True, "50001")),
    (("19928", False, "50001"), ("19929", True, "50001")),
    (("19929", False, "50001"), ("19928", True, "50001")),
    (("19928", False, "50001"), ("19928", False, "50001"), ("19929", True, "50001")),
    (("19928", False, "20001"),),
    (("19929", True, "30001"),),
)


def office_day(
    n: int, rp: int, ru: int, wp: int, wu: int, fees: tuple[tuple[str, bool, str], ...]
) -> list[BillingRow]:
    day, who = date(2025, 1, 1) + timedelta(days=n // 50), doctor(n % 50)
    out = []
    for size, walk_in, paid in (
        (rp, False, "49.15"),
        (ru, False, "0"),
        (wp, True, "49.15"),
        (wu, True, "0"),
    ):
        out += [
            row(
                patient=next(_patients),
                day=day,
                doctor=who,
                paid=paid,
                context="G160" if walk_in else "",
            )
            for _ in range(size)
        ]
    for k, (code, walk_in, place) in enumerate(fees):
        out.append(
            row(
                code=code,
                day=day,
                doctor=who,
                place=place,
                context="AR" if walk_in else "",
                id_ramq="" if n % 7 == 0 and k == 0 else None,
            )
        )
    return out


def office_fee_runs() -> list[list[BillingRow]]:
    grid = product(REGISTERED_PAID, UNPAID, WALK_IN_PAID, UNPAID, FEE_SETS)
    big = [row for n, shape in enumerate(grid) for row in office_day(n, *shape)]
    one_error = office_day(0, 3, 0, 0, 0, (("19928", False, "50001"),))
    two_optimizations = office_day(1, 15, 0, 0, 0, (("19928", False, "50001"),))
    two_optimizations += office_day(2, 15, 0, 0, 0, (("19928", False, "50001"),))
    one_optimization = office_day(3, 13, 0, 0, 0, ())
    return [big, [], one_error, two_optimizations, one_optimization]


def annual_code_runs() -> list[list[BillingRow]]:
    """Groups of 1 to 4 rows with every paid count, one or two codes, with or without IDs."""
    groups: list[BillingRow] = []
    for size, codes, blank in product(
        (1, 2, 3, 4), (("15815",), ("15801", "15816")), (False, True)
    ):
        for paid in range(size + 1):
            patient = next(_patients)
            groups += [
                row(
                    code=codes[k % len(codes)],
                    patient=patient,
                    day=f"2025-0{k + 1}-10",
                    paid="49.15" if k < paid else "0",
                    id_ramq="" if blank and k == 1 else None,
                )
                for k in range(size)
            ]
    many = [row(code="15819", patient=next(_patients)) for _ in range(1_234)]
    one = [row(code="15815", patient=next(_patients))]
    two_e1 = [row(code="15815", patient=7, day=f"2025-0{m}-01") for m in (1, 2)]
    return [groups + many, one, two_e1]


def gmf_runs() -> list[list[BillingRow]]:
    rows: list[BillingRow] = []
    for extra, paid, blank in product((1, 2), ("9.35", "0"), (False, True)):
        patient = next(_patients)
        rows.append(row(code="8875", patient=patient, day="2025-02-01", paid="9.35"))
        rows += [
            row(
                code="8875",
                patient=patient,
                day=f"2025-0{3 + k}-01",
                paid=paid,
                id_ramq="" if blank else None,
            )
            for k in range(extra)
        ]
    rows.append(row(code="8857", patient=next(_patients), day="2025-04-01"))
    rows.append(row(code="15804", patient=next(_patients), day="2025-04-01", id_ramq=""))
    return [rows]


def clinical_runs() -> list[list[BillingRow]]:
    """Doctor-days over 180 minutes: 1 or several lines, excess 1 or more, 0 to 2 unpaid."""
    rows: list[BillingRow] = []
    shapes = product((1, 2, 7), (0, 1, 2), (False, True))
    for n, (lines, unpaid, blank) in enumerate(shapes, start=1):
        who = doctor(n)
        shape = (
            [("8859", 181)]
            if lines == 1
            else [("8859", 150), ("8859", 31)]
            if lines == 2
            else [("8857", None)] * 7
        )
        rows += [
            row(
                code=code,
                units=units,
                doctor=who,
                claimed="29.85",
                paid="0" if k < unpaid else "29.85",
                id_ramq="" if blank and k == 0 else None,
            )
            for k, (code, units) in enumerate(shape)
        ]
    rows.append(row(code="8859", units=1_000_000, doctor=doctor(999), paid="0"))
    return [rows]


def visit_runs() -> list[list[BillingRow]]:
    return [
        [
            row(code="15804", start="10:00", end=end, claimed="20.00", id_ramq=blank)
            for end in ("10:30", "10:45", "11:15")
            for blank in (None, "")
        ]
    ]


CASES = {
    "office-fee": (office_fee_runs, ReferenceData()),
    "annual-code": (annual_code_runs, ReferenceData()),
    "gmf-8875": (gmf_runs, GMF_AND_CODES),
    "clinical-minutes": (clinical_runs, ReferenceData()),
    "visit-duration": (visit_runs, GMF_AND_CODES),
}


def findings_of(slug: str) -> list[Finding]:
    make_runs, reference = CASES[slug]
    found = [f for rows in make_runs() for f in run(slug, rows, reference)]
    return found + run(slug, [], ReferenceData())  # the skipped variants, if any


# --- the checks ----------------------------------------------------------------------------


def test_the_checked_rules_are_every_rule_but_structure() -> None:
    assert set(RULES) - set(CHECKED) == {"structure"}


@pytest.mark.parametrize("slug", CHECKED)
def test_every_scenario_reads_as_correct_french(slug: str) -> None:
    findings = findings_of(slug)
    assert {f.scenario for f in findings} == set(scenarios()[slug])
    problems = {
        (f.scenario, part, problem, text)
        for f in findings
        for part, text in (("message", f.message), ("solution", f.solution))
        for problem in defects(text)
    }
    assert not problems, sorted(problems)[:10]


#: Counted words each rule must have written with a count of 0 or 1 and with one of 2 or more.
COUNTED = {
    "office-fee": {"patient", "payé", "réclamation", "journée-médecin", "erreur", "optimisation"},
    "annual-code": {"réclamation", "ligne", "erreur"},
    "clinical-minutes": {"ligne", "minute"},
}


@pytest.mark.parametrize("slug", sorted(COUNTED))
def test_the_inputs_give_counts_of_0_or_1_and_of_2_or_more(slug: str) -> None:
    seen: dict[str, set[bool]] = defaultdict(set)
    for finding in findings_of(slug):
        for text in (finding.message, finding.solution):
            for written, words in counts(text):
                for word in words:
                    singular = (
                        word.removesuffix("s") if word != "journées-médecin" else "journée-médecin"
                    )
                    seen[singular].add(int(written.replace("\u202f", "")) >= 2)
    assert {word: seen[word] for word in COUNTED[slug]} == {
        word: {False, True} for word in COUNTED[slug]
    }


def test_large_counts_are_grouped_by_three() -> None:
    [summary] = [
        f
        for f in run("annual-code", annual_code_runs()[0], ReferenceData())
        if f.scenario == "SUMMARY"
    ]
    assert "lignes vérifiées" in summary.message and "\u202f" in summary.message.split(" lignes")[0]
    [over] = [
        f for f in run("clinical-minutes", [row(code="8859", units=1_000_000)], ReferenceData())
    ]
    assert "1\u202f000\u202f000 minutes" in over.message


class Crashing:
    slug = "office-fee"

    def feed(self, row: BillingRow) -> None:
        raise ValueError("boom")

    def finish(self) -> list[Finding]:
        return []


def test_a_crashed_rule_is_named_by_its_title() -> None:
    engine = Engine([Crashing()])
    engine.feed(make_row())
    [crashed] = engine.finish()
    assert "« Frais de cabinet (19928 et 19929) »" in crashed.message
    assert not defects(crashed.message) and not defects(crashed.solution)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Si les 1 patients inscrits non payés sont payés", "« 1 … patients » should be singular"),
        ("sur 1 ligne(s)", "« (s) »"),
        ("2 ligne vérifiée", "« 2 … ligne » should be plural"),
        ("0 erreurs", "« 0 … erreurs » should be singular"),
        ("(3 non payé)", "« 3 … payé » should be plural"),
        ("sur 1234 lignes", "« 1234 lignes »: a count not grouped by three, or a code"),
        (
            "Annulez le 19928 (ID RAMQ 30000000001, ligne 3)",
            "« ID RAMQ » instead of « réclamation »",
        ),
        ("Le 2025-03-10 : 30000000001 payé.", "claim 30000000001 not named « réclamation »"),
    ],
)
def test_the_checker_finds_what_reads_badly(text: str, problem: str) -> None:
    assert problem in defects(text)


@pytest.mark.parametrize(
    "text",
    [
        "3 patients inscrits payés (0 non payé) et 1 patient sans rendez-vous payé (2 non payés)",
        "1\u202f234 lignes vérifiées, 0 erreur, facturé 2 fois",
        "réclamations 30000000001 du 2025-01-10 et 30000000002 du 2025-03-15",
        "un 19929 pour patients inscrits",
    ],
)
def test_the_checker_accepts_good_french(text: str) -> None:
    assert defects(text) == []
