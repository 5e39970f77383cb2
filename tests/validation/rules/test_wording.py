"""Every scenario of every rule, with counts of 0, 1 and 2 or more, reads as correct French.

Each rule is run on inputs that produce each of its scenarios (checked against its
`SCENARIOS`; `tests/support/rule_inputs.py`) with the counts its texts carry at 0, 1, 2+ and in
the thousands; every message and solution then goes through the checker of
`tests/support/french.py`: no « (s) », numbers that agree with their nouns, counts grouped by
three, claims always called « réclamation ».
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import pytest

from tests.support.factories import make_row
from tests.support.french import counts, defects
from tests.support.rule_inputs import CASES, annual_code_runs, row
from tests.support.rules import feed_all
from validateur.validation.engine import Engine, ReferenceData
from validateur.validation.findings import Finding
from validateur.validation.rows import BillingRow
from validateur.validation.rules import RULES, build_rules, scenarios

#: Rules whose texts this test reads; `structure` writes its own (another module's tests).
CHECKED = ("office-fee", "annual-code", "gmf-8875", "clinical-minutes", "visit-duration")


def run(slug: str, rows: Iterable[BillingRow], reference: ReferenceData) -> list[Finding]:
    [rule] = build_rules(reference, only=[slug])
    return feed_all(rule, rows)


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
