"""The rule engine: one pass feeds every rule; a crashing rule becomes one finding."""

from __future__ import annotations

import random
from collections.abc import Iterable

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.factories import make_row
from validateur.validation.engine import Engine, ReferenceData
from validateur.validation.findings import Finding, Severity
from validateur.validation.rows import BillingRow
from validateur.validation.rules import RULES, build_rules


class Exploding:
    slug = "exploding"

    def __init__(self, fail_in: str) -> None:
        self.fail_in = fail_in
        self.fed = 0

    def feed(self, row: BillingRow) -> None:
        self.fed += 1
        if self.fail_in == "feed" and self.fed == 2:
            raise ValueError(f"boom on {row.patient}")

    def finish(self) -> Iterable[Finding]:
        if self.fail_in == "finish":
            raise RuntimeError("boom")
        return []


class Counting:
    slug = "counting"

    def __init__(self) -> None:
        self.rows = 0

    def feed(self, row: BillingRow) -> None:
        self.rows += 1

    def finish(self) -> Iterable[Finding]:
        return [Finding("counting", "N", Severity.INFO, f"{self.rows} lignes")]


def test_a_rule_raising_in_feed_becomes_one_rule_crashed_finding_and_others_go_on() -> None:
    counting = Counting()
    engine = Engine([Exploding("feed"), counting])
    for n in range(5):
        engine.feed(make_row(row_number=n + 1))
    findings = engine.finish()
    crashed = [f for f in findings if f.rule == "rule-crashed"]
    assert len(crashed) == 1
    assert crashed[0].severity == Severity.ERROR
    assert "exploding" in crashed[0].message
    assert "DOE" not in crashed[0].message and "TEST" not in crashed[0].message
    assert [f.message for f in findings if f.rule == "counting"] == ["5 lignes"]


def test_a_rule_raising_in_finish_is_reported_once() -> None:
    findings = Engine([Exploding("finish"), Counting()]).finish()
    assert [f.rule for f in findings] == ["rule-crashed", "counting"]


def test_every_rule_is_registered() -> None:
    assert set(RULES) == {"structure", "office-fee", "annual-code", "gmf-8875",
                          "clinical-minutes", "visit-duration"}


def _office_day(seed: int) -> list[BillingRow]:
    rng = random.Random(seed)
    rows = [make_row(patient=n, context=rng.choice(["", "G160", "#g160", "85, AR"]),
                     paid=rng.choice(["49.15", "0"]), code=rng.choice(["15804", "8857", "15815"]),
                     row_number=n + 1)
            for n in range(40)]
    rows.append(make_row(code="19928", patient=999, row_number=41))
    rows.append(make_row(code="19929", patient=998, context="G160", row_number=42))
    return rows


def _findings(rows: list[BillingRow]) -> list[tuple[object, ...]]:
    engine = Engine(build_rules(ReferenceData()))
    for row in rows:
        engine.feed(row)
    return [(f.rule, f.scenario, f.severity, f.message, f.rows, f.monetary_impact)
            for f in engine.finish()]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.randoms(use_true_random=False))
def test_shuffling_the_rows_of_a_file_does_not_change_its_findings(
    seed: int, shuffler: random.Random
) -> None:
    rows = _office_day(seed)
    shuffled = rows[:]
    shuffler.shuffle(shuffled)
    assert _findings(shuffled) == _findings(rows)


class Targeted:
    slug = "targeted"
    codes = frozenset({"8857"})

    def __init__(self) -> None:
        self.seen: list[str] = []

    def feed(self, row: BillingRow) -> None:
        self.seen.append(row.code)

    def finish(self) -> Iterable[Finding]:
        return []


def test_a_rule_with_codes_only_gets_rows_of_those_codes_padded_or_not() -> None:
    targeted, counting = Targeted(), Counting()
    engine = Engine([targeted, counting])
    for n, code in enumerate(["15804", "8857", " 8857 ", "88570", ""], 1):
        engine.feed(make_row(code=code, row_number=n))
    assert targeted.seen == ["8857", " 8857 "]
    assert counting.rows == 5


def test_declared_codes_match_what_each_rule_reads() -> None:
    """Feeding every row or only the declared ones gives the same findings."""
    rows = _office_day(7) + [make_row(code=c, patient=3, row_number=100 + i)
                             for i, c in enumerate(["8857", "8859", "15815", "8875", "15819"])]
    reference = ReferenceData(consultation_codes=frozenset({"15804"}),
                              gmf_establishments=frozenset({"50001"}),
                              known_codes=frozenset({"15804", "15815"}))

    class Unfiltered:
        def __init__(self, rule: object) -> None:
            self.rule = rule
            self.slug = rule.slug  # type: ignore[attr-defined]

        def feed(self, row: BillingRow) -> None:
            self.rule.feed(row)  # type: ignore[attr-defined]

        def finish(self) -> Iterable[Finding]:
            return self.rule.finish()  # type: ignore[attr-defined, no-any-return]

    def run(wrap: bool) -> list[tuple[object, ...]]:
        rules = build_rules(reference)
        engine = Engine([Unfiltered(r) for r in rules] if wrap else rules)
        for row in rows:
            engine.feed(row)
        return [(f.rule, f.scenario, f.message, f.rows, f.monetary_impact)
                for f in engine.finish()]

    assert run(wrap=True) == run(wrap=False)


def test_feeding_batches_gives_the_findings_of_feeding_row_by_row() -> None:
    rows = _office_day(3) + [make_row(code=c, patient=3, row_number=100 + i)
                             for i, c in enumerate(["8857", " 8859 ", "15815", "8875", "15819"])]
    reference = ReferenceData(consultation_codes=frozenset({"15804"}),
                              gmf_establishments=frozenset({"50001"}),
                              known_codes=frozenset({"15804", "15815"}))

    def run(batch: int) -> list[tuple[object, ...]]:
        engine = Engine(build_rules(reference))
        for start in range(0, len(rows), batch):
            engine.feed_batch(rows[start:start + batch])
        return [(f.rule, f.scenario, f.message, f.rows, f.monetary_impact)
                for f in engine.finish()]

    assert run(7) == run(500) == _findings_of(rows, reference)


def _findings_of(rows: list[BillingRow], reference: ReferenceData) -> list[tuple[object, ...]]:
    engine = Engine(build_rules(reference))
    for row in rows:
        engine.feed(row)
    return [(f.rule, f.scenario, f.message, f.rows, f.monetary_impact) for f in engine.finish()]


def test_a_rule_raising_in_a_batch_is_switched_off_and_the_others_get_every_row() -> None:
    targeted, counting = Targeted(), Counting()
    engine = Engine([Exploding("feed"), targeted, counting])
    codes = ["15804", "8857", " 8857 ", "88570", ""]
    engine.feed_batch([make_row(code=code, row_number=n) for n, code in enumerate(codes, 1)])
    engine.feed_batch([make_row(code="8857", row_number=6)])
    findings = engine.finish()
    assert [f.rule for f in findings] == ["rule-crashed", "counting"]
    assert targeted.seen == ["8857", " 8857 ", "8857"]
    assert counting.rows == 6
