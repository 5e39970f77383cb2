"""The rule registry: slug → factory taking the run's reference data.

Adding a rule = one module here plus one line below (see rules.md, "Adding a rule").
"""

from __future__ import annotations

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
