"""`office-fee`: RAMQ office fees (frais de cabinet) 19928 / 19929 (docs/rules.md).

Business reason: under the Entente omnipraticiens (FMOQ–RAMQ), a general practitioner
working in a private clinic (cabinet, establishment number starting with `5`) may bill a daily
office fee when enough patients were seen that day: 19928 (32,40 $) from 6 registered
(inscrits) or 10 walk-in (sans rendez-vous, context `G160`/`AR`) patients, 19929 (64,80 $)
from 12 registered or 20 walk-in patients, at most 64,80 $ per doctor per day (one 19928 per
group, or a single 19929). The codes table's tariffs for these codes are wrong: the tariffs
below are constants of this module.

Decisions where the business rule is silent:
- a visit row needs a patient and a non-empty code; a patient with both a registered and a
  walk-in visit the same day counts in each group; "paid" is per patient and doctor-day, from
  the patient's visit rows only (a paid 19928 row does not make its patient a paid visit);
- fees with an `ESTABLISHMENT` error or below their threshold (E1–E4) are left out of the
  combination checks (E5, E6, E8) so a fee is never counted at risk twice;
- E6 / E8 cost 32,40 $ per 19928 to cancel; O1–O4 need a single 19928 billed that day, and
  O1 (O2) is preferred to O3 (O4): both would bring the day to the same 64,80 $;
- `MISSED` needs a day with no fee row at all (a fee at a wrong place is a fee billed); it
  names no row (no fee exists), the date and masked doctor are in its message and `data`;
- rows without a service date or a doctor are skipped (the `structure` rule reports them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import date
from decimal import Decimal

from validateur.validation.engine import ReferenceData
from validateur.validation.findings import Finding, licence
from validateur.validation.privacy import mask_doctor
from validateur.validation.rows import BillingRow
from validateur.validation.rules.office_fee import messages as text
from validateur.validation.rules.office_fee.days import (
    REGISTERED,
    WALK_IN,
    DayBook,
    DayKey,
    DoctorDay,
    paid_mark,
)
from validateur.validation.rules.office_fee.messages import FEE_19928, FEE_19929, Counts, Day, Fee

TARIFF_19928 = Decimal("32.40")
TARIFF_19929 = Decimal("64.80")
TARIFFS = {FEE_19928: TARIFF_19928, FEE_19929: TARIFF_19929}
DAILY_MAXIMUM = Decimal("64.80")

REGISTERED_19928_MIN = 6
WALK_IN_19928_MIN = 10
REGISTERED_19929_MIN = 12
WALK_IN_19929_MIN = 20
#: (code, walk_in) → minimum paid patients of that group.
THRESHOLDS = {
    (FEE_19928, False): REGISTERED_19928_MIN,
    (FEE_19928, True): WALK_IN_19928_MIN,
    (FEE_19929, False): REGISTERED_19929_MIN,
    (FEE_19929, True): WALK_IN_19929_MIN,
}
BELOW = {(FEE_19928, False): "E1", (FEE_19928, True): "E2"}
BELOW |= {(FEE_19929, False): "E3", (FEE_19929, True): "E4"}
PASSES = {(FEE_19928, False): "P1", (FEE_19928, True): "P2"}
PASSES |= {(FEE_19929, False): "P3", (FEE_19929, True): "P4"}

WALK_IN_TOKENS = frozenset({"G160", "AR"})
CABINET_PREFIX = "5"
SCENARIO_ORDER: tuple[str, ...] = ("ESTABLISHMENT", "E1", "E2", "E3", "E4", "E5", "E6", "E8")
SCENARIO_ORDER += ("O1", "O2", "O3", "O4", "MISSED", "P1", "P2", "P3", "P4")
RANK = {scenario: index for index, scenario in enumerate(SCENARIO_ORDER)}
#: Every scenario the rule can produce.
SCENARIOS: tuple[str, ...] = (*SCENARIO_ORDER, "SUMMARY")


class OfficeFeeRule:
    """Checks 19928 / 19929 against the day's paid visits, per doctor and service date.

    Speed: `feed` is a closure (its state in local cells, not attributes), and most rows are
    visits of the same doctor-day as the row before, so the last day is remembered (compared by
    identity: the reader shares date and doctor objects) before the day book is asked. Memory:
    see `days.py`.
    """

    slug = text.SLUG
    feed: Callable[[BillingRow], None]

    def __init__(self, reference: ReferenceData) -> None:
        """`reference`: the registry passes it to every rule; this one needs none
        (its tariffs are constants of this module)."""
        self._book = DayBook()
        self._skipped_fees = 0
        self.feed = self._feeder()

    def _feeder(self) -> Callable[[BillingRow], None]:
        open_day, infos = self._book.open, dict[str, str]()  # one string per `Doctor Info`
        last_day: date | None = None
        last_doctor, state, marks = "", DoctorDay(""), dict[int, int]()
        paid_marks: dict[Decimal | None, int] = {}

        def feed(row: BillingRow) -> None:
            nonlocal last_day, last_doctor, state, marks
            code = row.code.strip()
            day, doctor = row.date_service, row.doctor
            if day is None or not doctor:
                self._skipped_fees += code in TARIFFS
                return
            is_fee = code in TARIFFS
            patient = row.patient_id
            if not is_fee and not (code and patient):
                return
            info = row.doctor_info
            if day is not last_day or doctor is not last_doctor:
                state, marks = open_day((day, doctor), infos.setdefault(info, info))
                last_day, last_doctor = day, doctor
            if info < state.doctor_info:
                state.doctor_info = infos.setdefault(info, info)
            context = row.context
            walk_in = bool(context) and not WALK_IN_TOKENS.isdisjoint(context)
            if is_fee:
                state.add_fee(_fee(row, code, walk_in))
                return
            try:  # `row.is_paid` is the slowest part of a visit: remember it per amount
                paid = paid_marks[row.montant_paye]
            except (KeyError, TypeError):  # TypeError: a signaling NaN cannot be hashed
                paid = paid_mark(paid_marks, row)
            mark = (WALK_IN if walk_in else REGISTERED) | paid
            key = hash(patient)  # the day keeps the patient's hash, never its text (days.py)
            marks[key] = marks.get(key, 0) | mark

        return feed

    def finish(self) -> Iterator[Finding]:
        """Doctor-days in (date, doctor) order, each built when consumed; SUMMARY last."""
        days, self._book = self._book.days, DayBook()
        self.feed = self._feeder()
        fees, count = sum(len(state.fees) for state in days.values()), len(days)
        tally = text.Tally()
        masks: dict[str, str] = {}
        for key in sorted(days):
            state = days.pop(key)
            for finding in evaluate(key, state, masks):
                tally.add(finding)
                yield finding
        yield text.summary(fees, self._skipped_fees, count, tally)


def _fee(row: BillingRow, code: str, walk_in: bool) -> Fee:
    return Fee(
        row=row.row_number,
        id_ramq=row.claim,
        code=code,
        walk_in=walk_in,
        place=row.lieu_pratique.strip(),
        tariff=TARIFFS[code],
        claimed=row.montant_preliminaire,
        paid=row.montant_paye,
    )


def evaluate(key: DayKey, state: DoctorDay, masks: dict[str, str]) -> list[Finding]:
    """Every finding of one doctor-day (`key` = date, `BillingRow.doctor`), in scenario then
    row order (`masks`: a cache). Each carries the doctor-day's date, licence and masked name."""
    found = _evaluate(key, state, masks)
    for finding in found:
        finding.service_date, finding.doctor = key[0], licence(key[1])
        finding.doctor_label = masks[state.doctor_info]
    return found


def _evaluate(key: DayKey, state: DoctorDay, masks: dict[str, str]) -> list[Finding]:
    day = key[0]
    counts = state.counts()
    fees: Sequence[Fee] = state.fees
    if not fees:
        if counts.rp < REGISTERED_19928_MIN and counts.wp < WALK_IN_19928_MIN:
            return []  # nothing to say: skip masking the doctor
        return missed(_view(day, state, counts, masks))
    if len(fees) > 1:
        fees = sorted(fees, key=_by_row)
    view = _view(day, state, counts, masks)
    found: list[Finding] = []
    passing: list[Fee] = []
    for fee in fees:
        if fee.place and not fee.place.startswith(CABINET_PREFIX):
            found.append(text.establishment(view, fee))
        elif counts.paid(fee.walk_in) < THRESHOLDS[fee.code, fee.walk_in]:
            found.append(below_threshold(view, fee))
        else:
            passing.append(fee)
    if len(passing) > 1:  # E5, E6 and E8 need two fees
        combined, grouped = combinations(view, passing)
        found += combined
        passing = [fee for fee in passing if fee.row not in grouped]
    errors = len(found)  # every finding so far is an error
    found += [passes(view, fee) for fee in passing]
    if not errors:
        found += optimizations(view, fees)
    if len(found) > 1:
        found.sort(key=_rank)
    return found


def _view(day: date, state: DoctorDay, counts: Counts, masks: dict[str, str]) -> Day:
    info = state.doctor_info
    doctor = masks.get(info)
    if doctor is None:
        doctor = masks[info] = mask_doctor(info)
    return Day(day, doctor, counts)


def _by_row(fee: Fee) -> int:
    return fee.row


def _rank(finding: Finding) -> tuple[int, tuple[int, ...]]:
    return RANK[finding.scenario], finding.rows[:1]


def below_threshold(view: Day, fee: Fee) -> Finding:
    """E1–E4; a 19929 reaching the 19928 threshold of its group is downgraded, not cancelled."""
    key = (fee.code, fee.walk_in)
    downgrade: int | None = None
    impact = -fee.tariff
    if fee.code == FEE_19929:
        floor = THRESHOLDS[(FEE_19928, fee.walk_in)]
        if view.counts.paid(fee.walk_in) >= floor:
            downgrade, impact = floor, TARIFF_19928 - TARIFF_19929
    return text.below_threshold(BELOW[key], view, fee, THRESHOLDS[key], impact, downgrade)


def passes(view: Day, fee: Fee) -> Finding:
    key = (fee.code, fee.walk_in)
    return text.passes(PASSES[key], view, fee, THRESHOLDS[key])


def combinations(view: Day, passing: list[Fee]) -> tuple[list[Finding], set[int]]:
    """E6, E8, else E5, over the fees that passed their checks; also their row numbers."""
    kinds: dict[tuple[str, bool], list[Fee]] = {key: [] for key in THRESHOLDS}
    for fee in passing:
        kinds[(fee.code, fee.walk_in)].append(fee)
    found: list[Finding] = []
    grouped: set[int] = set()
    for scenario, walk_in_19929 in (("E6", True), ("E8", False)):
        kept, cancelled = kinds[(FEE_19929, walk_in_19929)], kinds[(FEE_19928, not walk_in_19929)]
        if kept and cancelled:
            impact = -TARIFF_19928 * len(cancelled)
            found.append(text.cancel_19928(scenario, view, kept, cancelled, impact))
            grouped.update(fee.row for fee in (*kept, *cancelled))
    total = sum((fee.tariff for fee in passing), Decimal(0))
    if not found and total > DAILY_MAXIMUM:
        found.append(text.over_maximum(view, passing, total, DAILY_MAXIMUM))
        grouped.update(fee.row for fee in passing)
    return found, grouped


def optimizations(view: Day, fees: Sequence[Fee]) -> list[Finding]:
    """O1–O4, for a day without errors whose only fee is one 19928."""
    if len(fees) != 1 or fees[0].code != FEE_19928:
        return []
    fee = fees[0]
    gain = DAILY_MAXIMUM - TARIFF_19928
    upgrade_min = THRESHOLDS[(FEE_19929, fee.walk_in)]
    if view.counts.paid(fee.walk_in) >= upgrade_min:
        return [text.upgrade("O2" if fee.walk_in else "O1", view, fee, upgrade_min, gain)]
    other_min = THRESHOLDS[(FEE_19928, not fee.walk_in)]
    if view.counts.paid(not fee.walk_in) >= other_min:
        return [text.add_other("O4" if fee.walk_in else "O3", view, fee, other_min, gain)]
    return []


def missed(view: Day) -> list[Finding]:
    """MISSED: the best claim for a day with visits and no fee."""
    c = view.counts
    claims: list[tuple[str, bool]] = []
    if c.rp >= REGISTERED_19929_MIN or c.wp >= WALK_IN_19929_MIN:
        claims = [(FEE_19929, c.rp < REGISTERED_19929_MIN)]
    else:
        if c.rp >= REGISTERED_19928_MIN:
            claims.append((FEE_19928, False))
        if c.wp >= WALK_IN_19928_MIN:
            claims.append((FEE_19928, True))
    if not claims:
        return []
    gain = sum((TARIFFS[code] for code, _ in claims), Decimal(0))
    return [text.missed(view, claims, gain)]
