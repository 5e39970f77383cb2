"""Every rule and every scenario it can produce has a French title in the catalogue."""

from __future__ import annotations

import pytest

from validateur.validation.catalogue import RULE_TITLES, SCENARIO_TITLES, rule_title, scenario_title
from validateur.validation.rules import RULES, scenarios

ALL = scenarios()


def test_every_registered_rule_and_rule_crashed_declare_their_scenarios() -> None:
    assert set(ALL) == {*RULES, "rule-crashed"}
    assert all(ALL[slug] and len(set(ALL[slug])) == len(ALL[slug]) for slug in ALL)


@pytest.mark.parametrize("slug", sorted(ALL))
def test_every_rule_has_a_title(slug: str) -> None:
    assert RULE_TITLES.get(slug, "").strip()
    assert rule_title(slug) != slug


@pytest.mark.parametrize(("slug", "scenario"), [(s, c) for s in sorted(ALL) for c in ALL[s]])
def test_every_scenario_has_a_title(slug: str, scenario: str) -> None:
    assert SCENARIO_TITLES.get((slug, scenario), "").strip()
    assert scenario_title(slug, scenario) != scenario


def test_titles_are_written_the_quebec_way() -> None:
    for title in [*RULE_TITLES.values(), *SCENARIO_TITLES.values()]:
        assert "(s)" not in title and " $" not in title and "ID RAMQ" not in title, title
