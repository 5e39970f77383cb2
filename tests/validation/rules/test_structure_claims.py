"""The compact duplicate-claim log of `structure`, against a plain dict of every pair's rows."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from validateur.validation.rules.structure import claims as structure_claims
from validateur.validation.rules.structure.claims import ClaimLog, Duplicate

Line = tuple[tuple[str, str], int]


def expected(lines: list[Line], limit: int, max_rows: int) -> tuple[int, list[Duplicate]]:
    rows: dict[tuple[str, str], list[int]] = defaultdict(list)
    for pair, row in lines:
        rows[pair].append(row)
    duplicates = [
        (min(found), *pair, len(found), sorted(found)[: max_rows + 1])
        for pair, found in rows.items()
        if len(found) >= 2
    ]
    return len(duplicates), sorted(duplicates)[:limit]


def logged(lines: list[Line], limit: int, max_rows: int) -> tuple[int, list[Duplicate]]:
    log = ClaimLog(limit, max_rows)
    add = log.adder()
    for pair, row in lines:
        add(pair, row)
    return log.duplicates()


@st.composite
def claim_lines(draw: st.DrawFn) -> list[Line]:
    """Lines of a few hundred claims, some repeated, fed in file order or shuffled."""
    claims = draw(st.integers(1, 300))
    count = draw(st.integers(0, 900))
    codes = ("15804", "19928", "8857")
    lines = [
        ((str(draw(st.integers(0, claims))), codes[draw(st.integers(0, 2))]), row)
        for row in range(1, count + 1)
    ]
    if draw(st.booleans()):
        random.Random(draw(st.integers(0, 1000))).shuffle(lines)
    return lines


@pytest.fixture
def tiny_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tiny bitmap (many false hits, many rebuilds) and early settling (horizon, `_early`)."""
    monkeypatch.setattr(structure_claims, "INITIAL_BITS", 64)
    monkeypatch.setattr(structure_claims, "BITS_PER_PAIR", 2)
    monkeypatch.setattr(structure_claims, "SETTLE_AT", 3)


@settings(max_examples=200, deadline=None)
@given(lines=claim_lines(), limit=st.integers(1, 20), max_rows=st.integers(1, 5))
def test_same_duplicates_as_a_dict_of_every_pair(
    lines: list[Line], limit: int, max_rows: int
) -> None:
    assert logged(lines, limit, max_rows) == expected(lines, limit, max_rows)


@pytest.mark.usefixtures("tiny_log")
@settings(max_examples=300, deadline=None)
@given(lines=claim_lines(), limit=st.integers(1, 20), max_rows=st.integers(1, 5))
def test_same_duplicates_with_false_hits_rebuilds_and_settling(
    lines: list[Line], limit: int, max_rows: int
) -> None:
    assert logged(lines, limit, max_rows) == expected(lines, limit, max_rows)


def test_a_file_uploaded_twice_keeps_few_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(structure_claims, "SETTLE_AT", 100)
    lines = [((str(n), "15804"), n + 1) for n in range(5_000)]
    lines += [(pair, row + 5_000) for pair, row in lines]
    log = ClaimLog(10, 3)
    add = log.adder()
    for pair, row in lines:
        add(pair, row)
    assert len(log._pairs) <= 2 * 100
    total, ranked = log.duplicates()
    assert total == 5_000
    assert ranked == [(n + 1, str(n), "15804", 2, [n + 1, n + 5_001]) for n in range(10)]


def test_the_bitmap_stays_between_32_and_128_bits_a_pair() -> None:
    """Memory: the bitmap grows four times when it holds one pair per 32 bits, so it never
    costs more than 128 bits (16 bytes) a claim line, at any size of file (at one pair per 64
    bits, 1.3 million lines got a 32 MiB bitmap, more than the rest of the log)."""
    log = ClaimLog(10, 3)
    add = log.adder()
    for row in range(1, 300_001):
        add((str(row), "15804"), row)
        if row % 10_007 == 0:
            bits_a_pair = len(log._bits) * 8 / row
            assert 32 <= bits_a_pair <= 128, (row, bits_a_pair)
    assert log.duplicates() == (0, [])
