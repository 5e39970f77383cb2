"""Typed cell values: amounts, dates, times, units, contexts, identities, claim numbers."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal

import pytest

from validateur.validation.cells import (
    claim_number,
    context_tokens,
    doctor_identity,
    parse_amount,
    parse_date,
    parse_time,
    parse_units,
    patient_identity,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("49,15", "49.15"),
        ("29,9", "29.9"),
        ("0,00", "0.00"),
        ("49.15", "49.15"),
        ("32", "32"),
        ("1 234,56", "1234.56"),
        ("1\u00a0234,56", "1234.56"),
        ("1\u202f234,56", "1234.56"),
        ("12 345 678,90", "12345678.90"),
        ("$32,40", "32.40"),
        ("32,40 $", "32.40"),
        ("32,40$", "32.40"),
        ("$ 32,40", "32.40"),
        ("-32,40", "-32.40"),
        ("−32,40", "-32.40"),
        ("-$32,40", "-32.40"),
        ("$-32,40", "-32.40"),
        ("32,40-", "-32.40"),
        ("+32,40", "32.40"),
        ("(32,40)", "-32.40"),
        ("(32,40 $)", "-32.40"),
        ("1.234,56", "1234.56"),
        ("1,234.56", "1234.56"),
        ("1,234,567.89", "1234567.89"),
        ("1.234.567,89", "1234567.89"),
        ("1,234", "1234"),
        ("1.234", "1234"),
        ("0,125", "0.125"),
        ("12,3456", "12.3456"),
        ("1 234,567", "1234.567"),
        ("  49,15  ", "49.15"),
    ],
)
def test_amounts_are_decimals(text: str, expected: str) -> None:
    value = parse_amount(text)
    assert isinstance(value, Decimal)
    assert value == Decimal(expected)


@pytest.mark.parametrize("text", ["", "   ", "\u00a0"])
def test_empty_amount_is_none(text: str) -> None:
    assert parse_amount(text) is None


@pytest.mark.parametrize(
    "text",
    ["abc", "49,15,", "49,,15", "1e5", "NaN", "Infinity", "1_000", "12 34", "1,23,45",
     "--5", "(5", "5)", "(-5)", "$", "49,15 €", "4 9", "0x10", "١٢"],
)  # fmt: skip
def test_unreadable_amount_raises_value_error_without_the_text(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_amount(text)
    assert text.strip() not in str(caught.value) or not text.strip()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-10", date(2025, 3, 10)),
        ("2025/03/10", date(2025, 3, 10)),
        ("2025-03-10 00:00:00", date(2025, 3, 10)),
        ("2025-03-10T00:00:00", date(2025, 3, 10)),
        ("2025-03-10 0:00", date(2025, 3, 10)),
        (" 2025-03-10 ", date(2025, 3, 10)),
        ("", None),
    ],
)
def test_dates(text: str, expected: date | None) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    "text",
    ["2025-13-45", "2025-02-30", "10/03/2025", "20250310", "2025-W11-1", "2025-3-5",
     "2025-03-10 bonjour", "2025/03-10", "hier", "２０２５-03-10"],
)  # fmt: skip
def test_invalid_dates(text: str) -> None:
    with pytest.raises(ValueError):
        parse_date(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:30", time(9, 30)),
        ("9:30", time(9, 30)),
        ("09:30:15", time(9, 30, 15)),
        ("00:00", time(0, 0)),
        ("9h30", time(9, 30)),
        ("", None),
    ],
)
def test_times(text: str, expected: time | None) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["25:00", "24:00", "9:5", "930", "ab:cd", "09:60", "1:2:3:4"])
def test_invalid_times(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2", 2), (" 30 ", 30), ("2,00", 2), ("15.0", 15), ("", None), ("2,5", None), ("abc", None)],
)
def test_units(text: str, expected: int | None) -> None:
    assert parse_units(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", set()),
        ("G160", {"G160"}),
        ("#G160", {"G160"}),
        ("#g160", {"G160"}),
        ("85,AR", {"85", "AR"}),
        ("CLSC, ICEP", {"CLSC", "ICEP"}),
        (" , ,", set()),
        ("#", set()),
        ("##G160", {"#G160"}),
    ],
)
def test_context_tokens(text: str, expected: set[str]) -> None:
    assert context_tokens(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1234567-12345 | Tremblay, Marie - Omnipraticien   ", "1234567"),
        ("1234567", "1234567"),
        ("12345678-1 | Trop, Long", "12345678-1 | Trop, Long"),
        ("  Dr Tremblay  ", "Dr Tremblay"),
        ("", ""),
    ],
)
def test_doctor_identity(text: str, expected: str) -> None:
    assert doctor_identity(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ABCD12345678 - DOE, JANE", "ABCD12345678"),
        ("abcd12345678 - DOE, JANE", "ABCD12345678"),
        ("GOSMxxxx1415 - DOE, JANE", "GOSMXXXX1415"),
        ("ABCD12345678", "ABCD12345678"),
        ("ABCD123456789 - trop long", "ABCD123456789 - trop long"),
        ("  DOE, JANE ", "DOE, JANE"),
        ("", ""),
    ],
)
def test_patient_identity(text: str, expected: str) -> None:
    assert patient_identity(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30000000001", "30000000001"),
        (" 12345678901 ", "12345678901"),
        ("5", "5"),
        ("12345678901234567890", "12345678901234567890"),
        ("2025-0001234", "2025-0001234"),
        ("123456789A", "123456789A"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_claim_shaped_numbers_are_kept_stripped(text: str, expected: str) -> None:
    assert claim_number(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "TREMBLAY, JEAN",  # a name pasted in the wrong column
        "Tremblay",
        "JEAN-MARC",
        "ABCD12345678",  # a NAM: 4 letters first
        "1TREMBLAY",  # starts with a digit, mostly letters
        "12-AB-CD",
        "123456789012345678901",  # 21 digits
        "12345 678",
        "12345678901a",  # lower case
        "١٢٣٤",  # non-ASCII digits
        "１２３",
        "123\ufffd45",
        "-12345",
    ],
)
def test_anything_else_is_not_a_claim_number(text: str) -> None:
    assert claim_number(text) is None
