"""The rule engine: one pass over the rows feeds every rule.

Each rule is a small object with `feed(row)` and `finish()` hooks (frictionless-style
checks). The engine isolates rules from each other: a rule that raises is switched off and
reported once as a `rule-crashed` error finding naming the rule, never its data, and the
other rules go on. Rules get their reference data (codes table, GMF establishments) at
construction, loaded once per run by the job: no rule touches a database or Redis.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from validateur.validation.catalogue import rule_title
from validateur.validation.findings import Finding, Severity
from validateur.validation.rows import BillingRow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReferenceData:
    """Reference tables a rule may need; `None` means not loaded (rules then say so once)."""

    known_codes: frozenset[str] | None = None
    consultation_codes: frozenset[str] | None = None
    gmf_establishments: frozenset[str] | None = None


class Rule(Protocol):
    """A billing rule: fed every row once, in file order, then asked for its findings.

    A rule that only reads rows of some billing codes says so with a `codes` attribute
    (a frozenset of trimmed codes): the engine then feeds it only those rows.
    """

    slug: str

    def feed(self, row: BillingRow) -> None:
        """Take one row into the rule's bounded per-group state."""

    def finish(self) -> Iterable[Finding]:
        """Return the findings once every row has been fed."""


RuleFactory = Callable[[ReferenceData], Rule]

#: The rule of the finding that replaces a crashed rule's findings, and its one scenario.
CRASHED_SLUG = "rule-crashed"
SCENARIOS: tuple[str, ...] = ("CRASH",)


def crashed(slug: str) -> Finding:
    """The one finding that replaces the findings of a rule that raised."""
    return Finding(
        rule=CRASHED_SLUG,
        scenario="CRASH",
        severity=Severity.ERROR,
        message=(
            f"La règle « {rule_title(slug)} » s'est interrompue sur une erreur technique ; "
            "ses résultats sont absents de ce rapport."
        ),
        solution=(
            "Signalez ce problème à l'équipe technique ; les autres règles ont été appliquées."
        ),
        data={"rule": slug},
    )


def codes_of(rule: Rule) -> frozenset[str] | None:
    """The billing codes a rule reads (its optional `codes` attribute); None = every row."""
    codes: frozenset[str] | None = getattr(rule, "codes", None)
    return codes


class Engine:
    """Feeds rows to rules and collects findings, isolating rule failures.

    A rule may declare `codes`, the (trimmed) billing codes of the only rows it reads; the
    engine then hands it just those rows. Most rules care about a handful of codes, and not
    calling them for the other rows is most of what the engine costs per row.
    """

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._rules: list[Rule] = list(rules)
        self._crashes: list[Finding] = []
        self._dispatch()

    def _dispatch(self) -> None:
        """Per code, the feed functions of the rules that read its rows (every-row rules too)."""
        every_row = [rule for rule in self._rules if codes_of(rule) is None]
        self._every_row: list[tuple[Rule, Callable[[BillingRow], None]]] = [
            (rule, rule.feed) for rule in every_row
        ]
        self._by_code: dict[str, list[tuple[Rule, Callable[[BillingRow], None]]]] = {}
        self._coded: dict[str, list[tuple[Rule, Callable[[BillingRow], None]]]] = {}
        for rule in self._rules:
            for code in codes_of(rule) or ():
                self._by_code.setdefault(code, list(self._every_row)).append((rule, rule.feed))
                self._coded.setdefault(code, []).append((rule, rule.feed))

    def feed(self, row: BillingRow) -> None:
        code = row.code
        feeders = self._by_code.get(code)
        if feeders is None:
            stripped = code.strip()
            feeders = self._by_code.get(stripped, self._every_row) if stripped != code else None
        for rule, feed in feeders or self._every_row:
            try:
                feed(row)
            except Exception:
                self._disable(rule, "feed", row.row_number)  # new lists; this one goes on

    def feed_batch(self, rows: Sequence[BillingRow]) -> None:
        """Feed a batch of rows (the job's loop): the same rows to the same rules as `feed`
        row by row, in file order for each rule, but rule after rule.

        Rules are independent of each other, so each every-row rule takes the whole batch in
        one tight loop of its own, and only the rows of the rules that declare `codes` are
        looked up by code: no engine call, no list of feeders per row.
        """
        for rule, feed in self._every_row:
            row = None
            try:
                for row in rows:
                    feed(row)
            except Exception:
                self._disable(rule, "feed", row.row_number if row is not None else None)
        coded = self._coded
        if not coded:
            return
        for row in rows:
            code = row.code
            feeders = coded.get(code)
            if feeders is None:
                stripped = code.strip()
                if stripped == code:
                    continue
                feeders = coded.get(stripped)
                if feeders is None:
                    continue
            for rule, feed in feeders:
                try:
                    feed(row)
                except Exception:
                    self._disable(rule, "feed", row.row_number)  # new lists; this one goes on
                    coded = self._coded

    def stream(self) -> Iterator[Finding]:
        """Yield every finding once all rows are fed, rule by rule, without a full list.

        Crashes during feeding come first. A rule that raises while producing its findings
        keeps those it already yielded and adds one `rule-crashed` finding.
        """
        yield from self._crashes
        for rule in tuple(self._rules):
            try:
                yield from rule.finish()
            except Exception:
                self._disable(rule, "finish", None)
                yield self._crashes[-1]

    def finish(self) -> list[Finding]:
        """All findings as a list (tests and small files; the job streams them)."""
        return list(self.stream())

    def _disable(self, rule: Rule, hook: str, row_number: int | None) -> None:
        # Log the rule, hook and row number only: the exception text may quote a cell.
        log.error("rule %s crashed in %s (row %s)", rule.slug, hook, row_number)
        self._rules.remove(rule)
        self._dispatch()
        self._crashes.append(crashed(rule.slug))
