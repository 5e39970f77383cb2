"""Québec formatting: what a clerk reads in pages, exports, the CLI and messages."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from validateur import formatting


def test_integers_are_grouped_by_three_with_a_narrow_no_break_space() -> None:
    assert formatting.integer(100000) == "100\u202f000"
    assert formatting.integer(24967) == "24\u202f967"
    assert formatting.integer(999) == "999"
    assert formatting.integer(-1234567) == "-1\u202f234\u202f567"


def test_money_has_a_decimal_comma_and_a_no_break_space_before_the_dollar_sign() -> None:
    assert formatting.money(Decimal("675420.9")) == "675\u202f420,90\u00a0$"
    assert formatting.money(Decimal("-64.8")) == "-64,80\u00a0$"
    assert formatting.money(Decimal("0.005")) == "0,01\u00a0$"
    assert formatting.money(0) == "0,00\u00a0$"


def test_percentages_and_dates() -> None:
    assert formatting.percent(49) == "49\u00a0%"
    assert formatting.iso_date(date(2025, 1, 10)) == "2025-01-10"
    assert formatting.iso_date(None) == ""
