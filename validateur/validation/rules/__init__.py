"""The rule registry: slug → factory taking the run's reference data.

Layout: one package per rule, named after its slug (`office-fee` → `office_fee/`), whose
`__init__.py` holds the rule class, its stable `SLUG`, its `SCENARIOS` tuple (every scenario code
it can produce, each titled in `validateur.validation.catalogue`) and a docstring giving the
business reason; the helpers only that rule uses sit beside it (`messages.py` for its French
texts, `days.py`, `claims.py`). Helpers shared by several rules stay at this level
(`wording.py`, `years.py`, `columns.py`). Adding a rule = one package plus one line below; see
docs/rules.md for what each rule checks, docs/adding-a-rule.md for every step.
"""

from __future__ import annotations

from importlib import import_module

from validateur.validation import engine
from validateur.validation.engine import ReferenceData, Rule, RuleFactory
from validateur.validation.rules.annual_code import AnnualCodeRule
from validateur.validation.rules.clinical_minutes import ClinicalMinutesRule
from validateur.validation.rules.gmf_8875 import Gmf8875Rule
from validateur.validation.rules.office_fee import OfficeFeeRule
from validateur.validation.rules.structure import StructureRule
from validateur.validation.rules.visit_duration import VisitDurationRule

RULES: dict[str, RuleFactory] = {
    "structure": StructureRule,
    "office-fee": OfficeFeeRule,
    "annual-code": AnnualCodeRule,
    "gmf-8875": Gmf8875Rule,
    "clinical-minutes": ClinicalMinutesRule,
    "visit-duration": VisitDurationRule,
}


def build_rules(reference: ReferenceData, only: list[str] | None = None) -> list[Rule]:
    """Instantiate the registered rules (all, or only the named slugs) for one run."""
    slugs = only if only is not None else list(RULES)
    return [RULES[slug](reference) for slug in slugs]


def scenarios() -> dict[str, tuple[str, ...]]:
    """Every scenario code each rule can produce (its module's `SCENARIOS`), `rule-crashed`
    included: what the catalogue must title."""
    found = {slug: _module_scenarios(factory) for slug, factory in RULES.items()}
    found[engine.CRASHED_SLUG] = engine.SCENARIOS
    return found


def _module_scenarios(factory: RuleFactory) -> tuple[str, ...]:
    codes: tuple[str, ...] = import_module(factory.__module__).SCENARIOS
    return codes
