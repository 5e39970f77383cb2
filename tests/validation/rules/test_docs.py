"""The rules' docstrings cite only documents of the repository, and docs/rules.md covers them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from validateur.validation.rules import RULES, scenarios

ROOT = Path(__file__).resolve().parents[3]
RULES_DOC = ROOT / "docs/rules.md"
#: The rules' code and tests.
PATTERNS = (
    "validateur/validation/rules/**/*.py",
    "validateur/validation/engine.py",
    "validateur/validation/catalogue.py",
    "tests/validation/rules/*.py",
)
SOURCES = sorted(path for pattern in PATTERNS for path in ROOT.glob(pattern))
_CITED = re.compile(r"[\w./-]*[\w-]+\.md\b")


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_document_cited_is_in_the_repository(source: Path) -> None:
    cited = set(_CITED.findall(source.read_text(encoding="utf-8")))
    assert {name for name in cited if not (ROOT / name).is_file()} == set()


def test_docs_rules_md_has_a_section_per_rule_naming_its_scenarios() -> None:
    text = RULES_DOC.read_text(encoding="utf-8")
    for slug in RULES:
        assert f"## `{slug}`" in text, slug
    sections = dict(re.findall(r"^## `([\w-]+)`(.*?)(?=^## |\Z)", text, re.M | re.S))
    for slug, codes in scenarios().items():
        if slug in ("structure", "rule-crashed"):
            continue  # structure's scenarios are its own work's; the crash is in common ground
        assert {code for code in codes if f"`{code}`" not in sections[slug]} == set(), slug
