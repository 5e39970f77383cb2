"""The `structure` rule: row problems, NAMs, duplicate claims, unknown codes, the cap."""

from __future__ import annotations

import random
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.csvfiles import act, billing_csv
from tests.support.factories import make_row
from tests.support.rules import feed_all
from validateur.validation.engine import Engine, ReferenceData
from validateur.validation.findings import Finding, Severity
from validateur.validation.reader import BillingReader
from validateur.validation.rows import BillingRow, Column, Problem, RowProblem
from validateur.validation.rules import build_rules
from validateur.validation.rules.structure import (
    MAX_PER_SCENARIO,
    MAX_ROWS_PER_FINDING,
    StructureRule,
)

NO_REFERENCE = ReferenceData()


def run(rows: list[BillingRow], reference: ReferenceData = NO_REFERENCE) -> list[Finding]:
    return feed_all(StructureRule(reference), rows)


def with_problems(row: BillingRow, *problems: RowProblem) -> BillingRow:
    return replace(row, problems=problems)


def summary(findings: list[Finding]) -> list[tuple[str, str, tuple[int, ...]]]:
    return [(f.scenario, f.severity.value, f.rows) for f in findings]


def test_clean_rows_give_no_finding() -> None:
    rows = [make_row(patient=n, row_number=n) for n in range(1, 20)]
    assert run(rows) == []


def test_one_error_per_row_problem_naming_line_column_and_bad_value() -> None:
    rows = [
        with_problems(replace(make_row(row_number=1, id_ramq="11111111111"),
                              date_service_text="2025-13-45"),
                      RowProblem(Problem.INVALID_DATE, Column.DATE_SERVICE)),
        with_problems(replace(make_row(row_number=2), montant_paye_text="12,3,4",
                              debut_text="25h99"),
                      RowProblem(Problem.INVALID_AMOUNT, Column.MONTANT_PAYE),
                      RowProblem(Problem.INVALID_TIME, Column.DEBUT)),
        with_problems(make_row(row_number=3), RowProblem(Problem.MISSING_VALUE, Column.CODE)),
        with_problems(make_row(row_number=4), RowProblem(Problem.EXTRA_CELLS)),
    ]  # fmt: skip
    findings = run(rows)
    assert summary(findings) == [
        ("missing-value", "error", (3,)),
        ("invalid-date", "error", (1,)),
        ("invalid-amount", "error", (2,)),
        ("invalid-time", "error", (2,)),
        ("extra-cells", "error", (4,)),
    ]
    by_scenario = {f.scenario: f for f in findings}
    date_finding = by_scenario["invalid-date"]
    assert date_finding.rule == "structure"
    assert date_finding.message == (  # line = row + 1 (the header line)
        "Ligne 2 : la date « 2025-13-45 » de la colonne « Date de Service » est invalide."
    )
    assert date_finding.lines == (2,) and date_finding.data["value"] == "2025-13-45"
    assert date_finding.id_ramq == ("11111111111",)
    assert date_finding.monetary_impact == Decimal("0.00")
    assert by_scenario["invalid-amount"].message == (
        "Ligne 3 : le montant « 12,3,4 » de la colonne « Montant payé » est illisible."
    )
    assert by_scenario["invalid-time"].message == (
        "Ligne 3 : l'heure « 25h99 » de la colonne « Début » est invalide."
    )
    assert by_scenario["missing-value"].message == "Ligne 4 : la colonne « Code » est vide."
    assert by_scenario["extra-cells"].message == (
        "Ligne 5 : la ligne contient plus de cellules que l'en-tête."
    )
    assert all(f.solution for f in findings)


def test_messages_never_quote_the_bad_cell() -> None:
    row = replace(
        make_row(row_number=9),
        date_service_text="DOE JANE 1980",
        montant_paye_text="TEST00000042",
        problems=(
            RowProblem(Problem.INVALID_DATE, Column.DATE_SERVICE),
            RowProblem(Problem.INVALID_AMOUNT, Column.MONTANT_PAYE),
        ),
    )
    for finding in run([row]):
        text = finding.message + finding.solution + repr(finding.data)
        assert "DOE" not in text and "TEST00000042" not in text and "1980" not in text


def test_no_id_ramq_when_the_claim_is_empty() -> None:
    row = with_problems(replace(make_row(row_number=5), id_ramq="  ", claim=""),
                        RowProblem(Problem.EXTRA_CELLS))  # fmt: skip
    (finding,) = run([row])
    assert finding.id_ramq == ()


def test_invalid_nam_is_one_warning_listing_its_rows() -> None:
    rows = [
        replace(make_row(row_number=1), patient="DOE, JANE"),
        replace(make_row(row_number=2), patient="GOSMxxxx1415 - DOE, JANE"),
        replace(make_row(row_number=3), patient=""),
        replace(make_row(row_number=4), patient="   "),
        replace(make_row(row_number=5), patient="ABCD1234567 - TROP COURT"),
    ]
    findings = run(rows)
    assert summary(findings) == [("invalid-nam", "warning", (1, 5))]
    assert findings[0].message == (
        "Lignes 2 et 6 : la colonne « Patient » ne commence pas par un NAM (4 lettres et 8 "
        "chiffres)."
    )
    assert findings[0].data == {"count": 2, "column": "Patient"}
    assert "DOE" not in findings[0].message and "ABCD" not in findings[0].message


def test_invalid_claim_is_a_warning_that_never_shows_the_cell(tmp_path: Path) -> None:
    rows = [
        act(1, **{"ID RAMQ": "TREMBLAY, CANARI"}),
        act(2, **{"ID RAMQ": "TREMBLAY, CANARI"}),  # the same text twice is no duplicate
        act(3, **{"ID RAMQ": ""}),
        act(4, **{"ID RAMQ": "30000000004"}),
        act(5, **{"ID RAMQ": "CANA12345678", "Date de Service": "2025-13-45"}),
    ]
    path = tmp_path / "export.csv"
    path.write_bytes(billing_csv(rows))
    with BillingReader(path) as reader:
        findings = run(list(reader))
    assert summary(findings) == [
        ("invalid-date", "error", (5,)),
        ("invalid-claim", "warning", (1, 2, 5)),
    ]
    first = next(f for f in findings if f.scenario == "invalid-claim")
    assert first.message == (
        "Lignes 2, 3 et 6 : la colonne « ID RAMQ » ne contient pas un numéro de réclamation ; "
        "sa valeur n'est pas affichée."
    )
    assert "numéro de réclamation" in first.solution
    assert first.data == {"count": 3, "column": "ID RAMQ"}
    for finding in findings:
        assert finding.id_ramq == ()
        shown = finding.message + finding.solution + repr(finding.data)
        assert "CANA" not in shown.upper()


def test_one_finding_lists_at_most_a_thousand_rows_and_says_how_many() -> None:
    rows = [with_problems(replace(make_row(row_number=n), id_ramq="Canari", claim=""),
                          RowProblem(Problem.INVALID_CLAIM, Column.ID_RAMQ))
            for n in range(MAX_ROWS_PER_FINDING + 2, 0, -1)]  # fmt: skip
    (finding,) = run(rows)
    assert finding.rows == tuple(range(1, MAX_ROWS_PER_FINDING + 1))
    assert finding.lines == tuple(range(2, MAX_ROWS_PER_FINDING + 2))
    assert finding.data["count"] == MAX_ROWS_PER_FINDING + 2
    assert finding.message.startswith("1\u202f002 lignes (2, 3, 4, 5, 6, 7, 8, 9, 10, 11, …) :")
    assert finding.message.endswith("Seules les 1\u202f000 premières lignes sont listées.")


def test_duplicate_claim_names_claim_code_and_rows() -> None:
    rows = [
        make_row(row_number=3, id_ramq="12345678901"),
        make_row(row_number=5, id_ramq="12345678901", code="15815"),
        make_row(row_number=7, id_ramq=" 12345678901 "),
        make_row(row_number=8, id_ramq="22222222222"),
    ]
    (finding,) = run(rows)
    assert (finding.scenario, finding.severity) == ("duplicate-claim", Severity.WARNING)
    assert finding.rows == (3, 7)
    assert finding.id_ramq == ("12345678901",)
    assert finding.message == (
        "La réclamation 12345678901 contient le code 15804 2 fois (lignes 3 et 7)."
    )
    assert finding.data == {"idRamq": "12345678901", "code": "15804", "count": 2, "rows": [3, 7]}


def test_duplicate_claim_three_times_in_any_order() -> None:
    rows = [make_row(row_number=n, id_ramq="99") for n in (20, 4, 11)]
    (finding,) = run(rows)
    assert finding.rows == (4, 11, 20)
    assert "3 fois (lignes 4, 11 et 20)" in finding.message


def test_rows_without_claim_or_code_are_never_duplicates() -> None:
    rows = [replace(make_row(row_number=n), id_ramq="", claim="") for n in (1, 2)]
    rows += [replace(make_row(row_number=n, id_ramq="5"), code="") for n in (3, 4)]
    assert run(rows) == []


def test_unknown_code_only_with_the_reference_table() -> None:
    rows = [
        make_row(row_number=1, code="15804"),
        make_row(row_number=2, code="99999"),
        make_row(row_number=3, code="19928"),
        make_row(row_number=4, code=" 8875 "),
        make_row(row_number=5, code="15804a"),
    ]
    assert run(rows) == []
    reference = ReferenceData(known_codes=frozenset({"15804", "15804A"}))
    findings = run(rows, reference)
    assert summary(findings) == [("unknown-code", "warning", (2,))]
    assert findings[0].message == (
        "Ligne 3 : le code 99999 est absent du manuel de facturation de la RAMQ."
    )


def test_unknown_code_that_is_not_a_code_is_not_quoted() -> None:
    row = make_row(row_number=1, code="DOE, JANE")
    (finding,) = run([row], ReferenceData(known_codes=frozenset({"15804"})))
    assert "DOE" not in finding.message
    assert "(illisible)" in finding.message


def test_cap_per_scenario_keeps_the_first_subjects_and_counts_the_rest() -> None:
    extra = 7
    rows = [
        with_problems(replace(make_row(row_number=n), date_service_text=f"2025-13-{n:04d}"),
                      RowProblem(Problem.INVALID_DATE, Column.DATE_SERVICE))
        for n in range(1, MAX_PER_SCENARIO + extra + 1)  # one bad value per row
    ]
    rows.append(with_problems(make_row(row_number=5000), RowProblem(Problem.EXTRA_CELLS)))
    findings = run(rows)
    dates = [f for f in findings if f.scenario == "invalid-date"]
    assert len(dates) == MAX_PER_SCENARIO + 1
    assert [f.rows[0] for f in dates[:-1]] == list(range(1, MAX_PER_SCENARIO + 1))
    info = dates[-1]
    assert info.severity == Severity.INFO
    assert info.data == {"omitted": extra, "limit": MAX_PER_SCENARIO}
    assert info.message.startswith("7 autres cas de dates invalides ne sont pas détaillés")
    assert [f.scenario for f in findings if f.scenario != "invalid-date"] == ["extra-cells"]


def test_cap_applies_to_duplicate_claims() -> None:
    claims = MAX_PER_SCENARIO + 3
    rows = [make_row(row_number=n + 1, id_ramq=f"{n % claims}") for n in range(2 * claims)]
    findings = run(rows)
    assert len(findings) == MAX_PER_SCENARIO + 1
    assert findings[0].rows == (1, claims + 1)
    assert findings[-1].severity == Severity.INFO
    assert findings[-1].data["omitted"] == 3


def _messy_rows(seed: int) -> list[BillingRow]:
    rng = random.Random(seed)
    problems = [
        (), (), (RowProblem(Problem.INVALID_DATE, Column.DATE_SERVICE),),
        (RowProblem(Problem.INVALID_AMOUNT, Column.MONTANT_PAYE),
         RowProblem(Problem.INVALID_TIME, Column.FIN)),
        (RowProblem(Problem.EXTRA_CELLS),),
    ]  # fmt: skip
    rows = []
    for n in range(1, 120):
        row = make_row(row_number=n, id_ramq=str(rng.randrange(40)),
                       code=rng.choice(["15804", "15815", "99999", "ZZ"]))  # fmt: skip
        patient = rng.choice([row.patient, "DOE, JANE", ""])
        rows.append(replace(row, patient=patient, problems=rng.choice(problems)))
    return rows


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), shuffle_seed=st.integers(0, 10_000))
def test_shuffling_rows_does_not_change_findings(seed: int, shuffle_seed: int) -> None:
    rows = _messy_rows(seed)
    shuffled = rows[:]
    random.Random(shuffle_seed).shuffle(shuffled)
    reference = ReferenceData(known_codes=frozenset({"15804"}))
    assert run(shuffled, reference) == run(rows, reference)


def test_registry_and_engine() -> None:
    [rule] = build_rules(NO_REFERENCE, only=["structure"])
    assert rule.slug == "structure"
    engine = Engine([rule])
    engine.feed(with_problems(make_row(row_number=1), RowProblem(Problem.EXTRA_CELLS)))
    assert [f.scenario for f in engine.finish()] == ["extra-cells"]


def test_from_a_file_through_the_reader(tmp_path: Path) -> None:
    rows = [
        act(1),
        act(2, **{"Date de Service": "2025-13-45", "Montant payé": "beaucoup"}),
        act(3, Code=""),
        act(4, **{"ID RAMQ": "30000000001"}),
        act(5, Patient="Jean Inconnu"),
    ]
    path = tmp_path / "export.csv"
    path.write_bytes(billing_csv(rows, encoding="cp1252", delimiter=";"))
    with BillingReader(path) as reader:
        findings = run(list(reader))
    assert [(f.scenario, f.rows) for f in findings] == [
        ("missing-value", (3,)),
        ("invalid-date", (2,)),
        ("invalid-amount", (2,)),
        ("invalid-nam", (5,)),
        ("duplicate-claim", (1, 4)),
    ]
    assert all("beaucoup" not in f.message and "Inconnu" not in f.message for f in findings)


def test_every_scenario_has_a_french_title() -> None:
    from validateur.validation.catalogue import SCENARIO_TITLES
    from validateur.validation.rules.structure import SCENARIOS

    assert all(("structure", scenario) in SCENARIO_TITLES for scenario in SCENARIOS)


def test_no_data_row_is_one_warning() -> None:
    (finding,) = run([])
    assert (finding.rule, finding.scenario, finding.severity) == (
        "structure", "no-data", Severity.WARNING)
    assert finding.message == "Le fichier ne contient aucune ligne de données."
    assert finding.solution and finding.rows == ()
    assert [f.scenario for f in run([make_row(row_number=1)])] == []


def test_a_header_only_file_through_the_reader_gives_no_data(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b"sep=;\r\nFacturation\r\n" + billing_csv([], delimiter=";"))
    with BillingReader(path) as reader:
        assert [f.scenario for f in run(list(reader))] == ["no-data"]


def test_invalid_character_is_a_warning_naming_row_and_column() -> None:
    rows = [
        with_problems(make_row(row_number=4, id_ramq="30000000004"),
                      RowProblem(Problem.INVALID_CHARACTER, Column.PATIENT),
                      RowProblem(Problem.INVALID_CHARACTER, Column.DIAGNOSTIC)),
        with_problems(make_row(row_number=2), RowProblem(Problem.MISSING_VALUE, Column.CODE),
                      RowProblem(Problem.INVALID_CHARACTER, Column.FACTURE)),
    ]  # fmt: skip
    findings = run(rows)
    assert summary(findings) == [
        ("missing-value", "error", (2,)),
        ("invalid-character", "warning", (2,)),
        ("invalid-character", "warning", (4,)),
        ("invalid-character", "warning", (4,)),
    ]
    patient = next(f for f in findings if f.data.get("column") == "Patient")
    assert patient.message == (
        "Ligne 5 : la colonne « Patient » contient un caractère invalide (octet nul ou "
        "caractère illisible)."
    )
    assert patient.id_ramq == ("30000000004",) and "retirés" in patient.solution


def test_invalid_characters_are_one_finding_per_column() -> None:
    rows = [with_problems(make_row(row_number=n),
                          RowProblem(Problem.INVALID_CHARACTER, Column.PATIENT),
                          RowProblem(Problem.INVALID_CHARACTER, Column.FACTURE if n % 2 else
                                     Column.PATIENT))
            for n in range(1, 12)]  # fmt: skip
    findings = run(rows)
    assert [(f.data["column"], f.data["count"]) for f in findings] == [
        ("Patient", 16), ("Facture", 6)]


def test_the_omitted_count_is_grouped_the_quebec_way() -> None:
    rows = [with_problems(replace(make_row(row_number=n), debut_text=f"{n}:99"),
                          RowProblem(Problem.INVALID_TIME, Column.DEBUT))
            for n in range(1, MAX_PER_SCENARIO + 1235)]  # fmt: skip
    info = run(rows)[-1]
    assert info.message == (
        "1\u202f234 autres cas d'heures invalides ne sont pas détaillés : "
        "seuls les 1\u202f000 premiers sont listés."
    )


def test_an_amount_out_of_range_is_an_error_naming_the_column(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(billing_csv([act(1, **{"Montant payé": "1 000 000 000,00"})]))
    with BillingReader(path) as reader:
        (finding,) = run(list(reader))
    assert (finding.scenario, finding.severity, finding.rows) == (
        "amount-out-of-range", Severity.ERROR, (1,))
    assert finding.message == (
        "Ligne 2 : le montant « 1 000 000 000,00 » de la colonne « Montant payé » atteint "
        "1\u202f000\u202f000\u202f000\u00a0$ ou plus : ce n'est pas un montant de facturation."
    )
