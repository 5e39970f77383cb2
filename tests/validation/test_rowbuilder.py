"""The row builder: typed values and row problems from the cells of one record."""

from __future__ import annotations

from validateur.validation.rowbuilder import row_builder
from validateur.validation.rows import BillingRow, Column, Problem, RowProblem

COLUMNS = {column: index for index, column in enumerate(Column)}
INVALID_CLAIM = RowProblem(Problem.INVALID_CLAIM, Column.ID_RAMQ)


def build(id_ramq: str) -> BillingRow:
    """One otherwise clean row whose `ID RAMQ` cell is `id_ramq`."""
    cells = {column: "" for column in Column}
    cells.update({
        Column.ID_RAMQ: id_ramq,
        Column.DATE_SERVICE: "2025-03-10",
        Column.CODE: "15804",
        Column.DOCTOR_INFO: "1234567-12345 | Côté, Ève - Omnipraticien",
        Column.PATIENT: "TEST00000001 - CÔTÉ, FRANÇOIS",
    })  # fmt: skip
    row = row_builder(COLUMNS, len(COLUMNS))(1, [cells[column] for column in Column])
    assert row is not None
    return row


def test_a_claim_number_is_the_claim_of_the_row() -> None:
    row = build("30000000001")
    assert (row.id_ramq, row.claim, row.problems) == ("30000000001", "30000000001", ())


def test_a_padded_claim_number_is_stripped_in_claim_only() -> None:
    row = build(" 30000000001 ")
    assert (row.id_ramq, row.claim, row.problems) == (" 30000000001 ", "30000000001", ())


def test_an_empty_claim_is_no_problem() -> None:
    for text in ("", "   "):
        row = build(text)
        assert (row.claim, row.problems) == ("", ())


def test_a_cell_that_is_not_a_claim_number_leaves_no_claim_and_a_problem() -> None:
    for text in ("TREMBLAY, JEAN", "ABCD12345678", "1TREMBLAY", "١٢٣", "1" * 21):
        row = build(text)
        assert row.id_ramq == text  # stored as read (billing_records), never shown
        assert (row.claim, row.problems) == ("", (INVALID_CLAIM,)), text


def test_the_invalid_claim_problem_comes_with_the_other_problems() -> None:
    cells = ["", "Jean Tremblay", "2025-13-45", *[""] * (len(Column) - 3)]
    row = row_builder(COLUMNS, len(COLUMNS))(7, cells)
    assert row is not None and row.claim == ""
    assert INVALID_CLAIM in row.problems
    assert RowProblem(Problem.INVALID_DATE, Column.DATE_SERVICE) in row.problems
