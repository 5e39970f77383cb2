"""Running one rule on rows the way the engine does: every row fed once, then `finish`."""

from __future__ import annotations

from collections.abc import Iterable

from validateur.validation.engine import Rule
from validateur.validation.findings import Finding
from validateur.validation.rows import BillingRow


def feed_all(rule: Rule, rows: Iterable[BillingRow]) -> list[Finding]:
    """Feed `rows` to `rule` in order and return its findings as a list (consumed once)."""
    for row in rows:
        rule.feed(row)
    return list(rule.finish())
