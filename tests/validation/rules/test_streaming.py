"""Every rule hands its findings over one at a time (the job streams them to the database)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from tests.support.factories import make_row
from validateur.validation.engine import ReferenceData
from validateur.validation.rules import RULES, build_rules
from validateur.validation.rules.years import Years

REFERENCE = ReferenceData(
    known_codes=frozenset({"15804"}),
    consultation_codes=frozenset({"15804"}),
    gmf_establishments=frozenset({"50001"}),
)


@pytest.mark.parametrize("slug", list(RULES))
def test_finish_is_an_iterator_built_as_it_is_consumed(slug: str) -> None:
    [rule] = build_rules(REFERENCE, only=[slug])
    for n in range(1, 40):
        rule.feed(make_row(code="15815", patient=n % 3, row_number=n, id_ramq=str(n % 5)))
    findings = rule.finish()
    assert isinstance(findings, Iterator)
    assert all(finding.rule == slug for finding in findings)


def test_years_share_one_int_per_year() -> None:
    years = Years()
    first, second = years.of(date(2025, 1, 1)), years.of(date(2025, 12, 31))
    assert first == second == 2025 and first is second
    assert years.of(date(2024, 12, 31)) == 2024
