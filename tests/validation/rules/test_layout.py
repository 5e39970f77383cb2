"""The rules folder keeps its shape: one package per rule, shared helpers beside them."""

from __future__ import annotations

from pathlib import Path

from validateur.validation import rules
from validateur.validation.rules import RULES

FOLDER = Path(rules.__file__).parent
#: Modules at the rules level: the registry and the helpers several rules share.
SHARED = {"__init__.py", "columns.py", "wording.py", "years.py"}


def test_every_rule_is_the_package_named_after_its_slug() -> None:
    for slug, factory in RULES.items():
        package = f"{rules.__name__}.{slug.replace('-', '_')}"
        assert factory.__module__ == package, slug
        assert (FOLDER / slug.replace("-", "_") / "__init__.py").is_file(), slug


def test_only_shared_helpers_sit_at_the_rules_level() -> None:
    assert {path.name for path in FOLDER.glob("*.py")} == SHARED
    packages = {path.name for path in FOLDER.iterdir() if (path / "__init__.py").is_file()}
    assert packages == {slug.replace("-", "_") for slug in RULES}
