"""The streaming reader on small files built in code: encodings, delimiters, shapes, failures."""

from __future__ import annotations

import codecs
import gzip
import random
from datetime import date, time
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support.csvfiles import HEADER, act, billing_csv
from validateur.validation.reader import BillingReader, FileFormat, UnusableFile, sniff_file
from validateur.validation.rows import BillingRow, Column, Problem, RowProblem

ACCENTED = {
    "Patient": "TEST00000001 - CÔTÉ, FRANÇOIS",
    "Doctor Info": "1234567-12345 | Côté, Ève - Omnipraticien",
    "Secteur d'activité": "Début ç à l'hôpital",
}


def write(tmp_path: Path, content: bytes, name: str = "export.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def read(path: Path) -> list[BillingRow]:
    with BillingReader(path) as reader:
        return list(reader)


def text_csv(lines: list[str], *, encoding: str = "utf-8", ending: str = "\r\n") -> bytes:
    return ending.join(lines).encode(encoding)


# --- encodings and delimiters ---------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_accents_survive_every_encoding_and_delimiter(
    tmp_path: Path, encoding: str, delimiter: str
) -> None:
    content = billing_csv([act(1, **ACCENTED), act(2)], encoding=encoding, delimiter=delimiter)
    path = write(tmp_path, content)
    fmt = sniff_file(path)
    assert fmt.encoding == encoding
    assert fmt.delimiter == delimiter
    assert fmt.header_size == 23
    rows = read(path)
    assert [row.row_number for row in rows] == [1, 2]
    first = rows[0]
    assert first.patient == ACCENTED["Patient"]
    assert first.doctor_info == ACCENTED["Doctor Info"]
    assert first.secteur_activite == ACCENTED["Secteur d'activité"]
    assert first.patient_id == "TEST00000001"
    assert first.doctor == "1234567"
    assert first.problems == ()


def test_header_columns_are_mapped_by_name(tmp_path: Path) -> None:
    path = write(tmp_path, billing_csv([act(1)], delimiter=";"))
    fmt = sniff_file(path)
    assert fmt.columns[Column.DATE_SERVICE] == 3
    assert fmt.columns[Column.PATIENT] == 21
    assert fmt.columns[Column.ELEMENT_CONTEXTE] == 13
    assert len(fmt.columns) == len(Column)


def test_delimiter_inside_quotes_does_not_count(tmp_path: Path) -> None:
    header = [name if name != "Agence" else "Agence; bureau; Québec; a; b; c; d" for name in HEADER]
    content = billing_csv([act(1)], delimiter=",", header=header)
    assert sniff_file(write(tmp_path, content)).delimiter == ","


def test_a_full_row_reads_every_typed_value(tmp_path: Path) -> None:
    row = act(
        7, Début="09:15", Fin="9:45", Unités="30", Code="8859",
        **{"Élement de contexte": "85, #g160", "Montant payé": "0,00",
           "Montant Preliminaire": "29,85"},
    )  # fmt: skip
    (read_row,) = read(write(tmp_path, billing_csv([row], delimiter=";", encoding="cp1252")))
    assert read_row.facture == "F00007"
    assert read_row.id_ramq == "30000000007"
    assert read_row.date_service == date(2025, 3, 10)
    assert read_row.debut == time(9, 15)
    assert read_row.fin == time(9, 45)
    assert read_row.fin_text == "9:45"
    assert read_row.unites == 30
    assert read_row.code == "8859"
    assert read_row.context == {"85", "G160"}
    assert read_row.montant_preliminaire == Decimal("29.85")
    assert read_row.montant_paye == Decimal("0.00")
    assert not read_row.is_paid
    assert read_row.lieu_pratique == "50001"
    assert read_row.role == "1"


# --- line endings, short and long rows, blank rows ------------------------------------------


@pytest.mark.parametrize("ending", ["\r\n", "\n", "\r"])
@pytest.mark.parametrize("final_newline", [True, False])
def test_line_endings_and_missing_final_newline(
    tmp_path: Path, ending: str, final_newline: bool
) -> None:
    content = billing_csv([act(1), act(2), act(3)], delimiter=";", line_ending=ending)
    if not final_newline:
        content = content.rstrip(b"\r\n")
    rows = read(write(tmp_path, content))
    assert [row.id_ramq for row in rows] == ["30000000001", "30000000002", "30000000003"]
    assert all(row.patient.endswith("FRANÇOIS") for row in rows)
    assert all(row.problems == () for row in rows)


def test_quoted_fields_with_commas_and_newlines(tmp_path: Path) -> None:
    row = act(1, Diagnostic="A09,\nsur deux lignes")
    (read_row,) = read(write(tmp_path, billing_csv([row], delimiter=",")))
    assert read_row.diagnostic == "A09,\nsur deux lignes"
    assert read_row.patient == "TEST00000001 - CÔTÉ, FRANÇOIS"


def test_22_field_rows_are_normal(tmp_path: Path) -> None:
    content = billing_csv([act(1), act(2)], delimiter=";", drop_last_cell=True)
    rows = read(write(tmp_path, content))
    assert len(rows) == 2
    assert all(row.problems == () for row in rows)
    assert rows[0].patient_id == "TEST00000001"


def test_rows_much_shorter_than_the_header_have_empty_cells(tmp_path: Path) -> None:
    lines = [";".join(HEADER), "1;F1;30000000001;2025-03-10"]
    (row,) = read(write(tmp_path, text_csv(lines)))
    assert row.patient == "" and row.doctor_info == "" and row.code == ""
    assert row.montant_paye is None
    assert set(row.problems) == {
        RowProblem(Problem.MISSING_VALUE, Column.CODE),
        RowProblem(Problem.MISSING_VALUE, Column.DOCTOR_INFO),
    }


def test_extra_cells_are_a_row_problem(tmp_path: Path) -> None:
    good = ";".join(act(1).get(name, "") for name in HEADER)
    lines = [";".join(HEADER), good + ";surplus", good + ";;", good]
    rows = read(write(tmp_path, text_csv(lines)))
    assert [row.problems for row in rows] == [(RowProblem(Problem.EXTRA_CELLS),), (), ()]
    assert rows[0].patient == "TEST00000001 - CÔTÉ, FRANÇOIS"


def test_blank_rows_are_skipped_and_not_counted(tmp_path: Path) -> None:
    cells = [";".join(act(n).get(name, "") for name in HEADER) for n in (1, 2, 3)]
    lines = ["", ";".join(HEADER), "", cells[0], ";;;;", "  ;  ; ", cells[1], "", cells[2], ""]
    rows = read(write(tmp_path, text_csv(lines)))
    assert [(row.row_number, row.id_ramq) for row in rows] == [
        (1, "30000000001"),
        (2, "30000000002"),
        (3, "30000000003"),
    ]


def test_row_numbers_ignore_the_export_number_column(tmp_path: Path) -> None:
    rows = read(write(tmp_path, billing_csv([act(41), act(17)], delimiter=";")))
    assert [row.row_number for row in rows] == [1, 2]


# --- typed values and row problems ----------------------------------------------------------

AMOUNTS = {
    "49,15": "49.15", "29,9": "29.9", "0,00": "0.00", "1 234,56": "1234.56",
    "1\u00a0234,56": "1234.56", "1\u202f234,56": "1234.56", "$32,40": "32.40",
    "32,40 $": "32.40", "-32,40": "-32.40", "(32,40)": "-32.40", "49.15": "49.15",
    "1,234.56": "1234.56", "1.234,56": "1234.56",
}  # fmt: skip


@pytest.mark.parametrize("delimiter", [",", ";"])
@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
def test_every_amount_format(tmp_path: Path, delimiter: str, encoding: str) -> None:
    amounts = {k: v for k, v in AMOUNTS.items() if encoding == "utf-8" or "\u202f" not in k}
    rows = [act(n, **{"Montant payé": text}) for n, text in enumerate(amounts, start=1)]
    read_rows = read(write(tmp_path, billing_csv(rows, delimiter=delimiter, encoding=encoding)))
    assert [row.montant_paye for row in read_rows] == [Decimal(v) for v in amounts.values()]
    assert [row.montant_paye_text for row in read_rows] == list(amounts)
    assert all(row.problems == () for row in read_rows)


def test_unreadable_and_empty_amounts(tmp_path: Path) -> None:
    rows = [
        act(1, **{"Montant payé": "quarante"}),
        act(2, **{"Montant Preliminaire": "", "Montant payé": ""}),
        act(3, **{"Montant Preliminaire": "12,34,56"}),
    ]
    first, second, third = read(write(tmp_path, billing_csv(rows, delimiter=";")))
    assert first.montant_paye is None and first.montant_paye_text == "quarante"
    assert first.problems == (RowProblem(Problem.INVALID_AMOUNT, Column.MONTANT_PAYE),)
    assert second.montant_paye is None and second.montant_preliminaire is None
    assert second.problems == ()
    assert third.problems == (RowProblem(Problem.INVALID_AMOUNT, Column.MONTANT_PRELIMINAIRE),)


@pytest.mark.parametrize("text", ["2025-13-45", "2025-02-30", "10/03/2025", "demain"])
def test_bad_dates(tmp_path: Path, text: str) -> None:
    rows = read(write(tmp_path, billing_csv([act(1, **{"Date de Service": text}), act(2)])))
    assert rows[0].date_service is None
    assert rows[0].date_service_text == text
    assert rows[0].problems == (RowProblem(Problem.INVALID_DATE, Column.DATE_SERVICE),)
    assert rows[1].problems == ()


@pytest.mark.parametrize("text", ["2025/03/10", "2025-03-10 00:00:00"])
def test_tolerated_dates(tmp_path: Path, text: str) -> None:
    (row,) = read(write(tmp_path, billing_csv([act(1, **{"Date de Service": text})])))
    assert row.date_service == date(2025, 3, 10)
    assert row.problems == ()


def test_missing_date_code_and_doctor(tmp_path: Path) -> None:
    rows = [
        act(1, **{"Date de Service": ""}),
        act(2, Code="  "),
        act(3, **{"Doctor Info": ""}),
    ]
    read_rows = read(write(tmp_path, billing_csv(rows, delimiter=";")))
    assert [row.problems for row in read_rows] == [
        (RowProblem(Problem.MISSING_VALUE, Column.DATE_SERVICE),),
        (RowProblem(Problem.MISSING_VALUE, Column.CODE),),
        (RowProblem(Problem.MISSING_VALUE, Column.DOCTOR_INFO),),
    ]


def test_bad_times(tmp_path: Path) -> None:
    rows = [act(1, Début="25:00", Fin="10h30"), act(2, Début="9:30", Fin="midi")]
    first, second = read(write(tmp_path, billing_csv(rows)))
    assert first.debut is None and first.fin == time(10, 30)
    assert first.problems == (RowProblem(Problem.INVALID_TIME, Column.DEBUT),)
    assert second.debut == time(9, 30) and second.fin is None
    assert second.problems == (RowProblem(Problem.INVALID_TIME, Column.FIN),)


def test_units_never_make_a_problem(tmp_path: Path) -> None:
    rows = [act(1, Unités="2,00"), act(2, Unités="beaucoup"), act(3, Unités="")]
    assert [(r.unites, r.problems) for r in read(write(tmp_path, billing_csv(rows)))] == [
        (2, ()),
        (None, ()),
        (None, ()),
    ]


def test_identities_fall_back_to_trimmed_text(tmp_path: Path) -> None:
    rows = [act(1, Patient="  inconnu  ", **{"Doctor Info": " Dr Tremblay  "})]
    (row,) = read(write(tmp_path, billing_csv(rows)))
    assert row.patient_id == "inconnu"
    assert row.doctor == "Dr Tremblay"
    assert row.patient == "  inconnu  "


# --- headers --------------------------------------------------------------------------------


def test_header_with_replacement_characters(tmp_path: Path) -> None:
    damaged = {
        "Début": "D\ufffdbut", "Unités": "Unit\ufffd\ufffds", "Rôle": "R\ufffdle",
        "Élement de contexte": "\ufffdlement de contexte", "Montant payé": "Montant pay\ufffd",
    }  # fmt: skip
    header = [damaged.get(name, name) for name in HEADER]
    row = act(1, Début="08:00", **{"Montant payé": "12,00", "Élement de contexte": "G160"})
    rows = [{damaged.get(name, name): value for name, value in row.items()}]
    fmt = sniff_file(write(tmp_path, billing_csv(rows, header=header)))
    for column in (Column.DEBUT, Column.UNITES, Column.ROLE, Column.ELEMENT_CONTEXTE):
        assert column in fmt.columns
    (read_row,) = read(tmp_path / "export.csv")
    assert read_row.debut == time(8, 0)
    assert read_row.montant_paye == Decimal("12.00")
    assert read_row.context == {"G160"}


@pytest.mark.parametrize(
    "spelling",
    ["Élement de contexte", "Élément de contexte", "ELEMENT DE CONTEXTE", "element  de contexte"],
)
def test_both_spellings_of_the_context_column(tmp_path: Path, spelling: str) -> None:
    header = [spelling if name == "Élement de contexte" else name for name in HEADER]
    rows = [act(1, **{"Élement de contexte": "#G160"})]
    content = billing_csv([{spelling: r["Élement de contexte"], **r} for r in rows], header=header)
    (row,) = read(write(tmp_path, content))
    assert row.context == {"G160"}


def test_unknown_and_reordered_headers(tmp_path: Path) -> None:
    header = ["Remarque", *reversed(HEADER), "Autre"]
    (row,) = read(write(tmp_path, billing_csv([act(1, Remarque="x")], header=header)))
    assert row.patient == "TEST00000001 - CÔTÉ, FRANÇOIS"
    assert row.code == "15804"


def test_duplicated_known_header_uses_the_first(tmp_path: Path) -> None:
    lines = [";".join([*HEADER, "Code"]), ";".join([*(act(1).get(n, "") for n in HEADER), "999"])]
    (row,) = read(write(tmp_path, text_csv(lines)))
    assert row.code == "15804"
    assert row.problems == ()


def test_first_17_columns_plus_patient(tmp_path: Path) -> None:
    header = [*HEADER[:17], "Patient"]
    (row,) = read(write(tmp_path, billing_csv([act(1)], header=header, delimiter=";")))
    assert row.patient_id == "TEST00000001"
    assert row.problems == ()


def test_missing_required_columns_are_named(tmp_path: Path) -> None:
    header = [name for name in HEADER if name not in ("Patient", "Code")]
    with pytest.raises(UnusableFile) as caught:
        sniff_file(write(tmp_path, billing_csv([act(1)], header=header)))
    assert str(caught.value) == "Colonnes obligatoires absentes : Code, Patient."
    with pytest.raises(UnusableFile):
        BillingReader(tmp_path / "export.csv")


def test_no_header_line(tmp_path: Path) -> None:
    lines = [";".join(act(n).get(name, "") for name in HEADER) for n in (1, 2)]
    with pytest.raises(UnusableFile) as caught:
        sniff_file(write(tmp_path, text_csv(lines)))
    message = str(caught.value)
    assert message.startswith("Aucune ligne d'en-tête")
    assert "TEST" not in message and "CÔTÉ" not in message


def test_header_only_gives_no_rows(tmp_path: Path) -> None:
    path = write(tmp_path, billing_csv([], delimiter=";"))
    assert sniff_file(path).delimiter == ";"
    assert read(path) == []


# --- unusable files -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "start"),
    [
        (b"", "Le fichier est vide."),
        (b"  \r\n\r\n", "Le fichier est vide."),
        (codecs.BOM_UTF8, "Le fichier est vide."),
        (bytes(range(256)) * 40, "Le fichier n'est pas un fichier texte"),
        (b"\x01\x02\x03\x04abc" * 500, "Le fichier n'est pas un fichier texte"),
        (b"PK\x03\x04\x14\x00\x06\x00" + b"x" * 100, "Le fichier est une archive ZIP"),
        (b"%PDF-1.7\n" + b"x" * 100, "Le fichier est un document PDF"),
    ],
)
def test_unusable_files(tmp_path: Path, content: bytes, start: str) -> None:
    with pytest.raises(UnusableFile) as caught:
        sniff_file(write(tmp_path, content))
    assert str(caught.value).startswith(start)


def test_gzip_file(tmp_path: Path) -> None:
    with pytest.raises(UnusableFile) as caught:
        sniff_file(write(tmp_path, gzip.compress(billing_csv([act(1)]))))
    assert "gzip" in str(caught.value)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_files(tmp_path: Path, encoding: str) -> None:
    content = billing_csv([act(1)]).decode("utf-8").encode(encoding)
    with pytest.raises(UnusableFile) as caught:
        sniff_file(write(tmp_path, content))
    assert "UTF-16" in str(caught.value) or "UTF-32" in str(caught.value)


def test_unknown_encoding(tmp_path: Path) -> None:
    header = ";".join(h.replace("é", "e").replace("ô", "o").replace("É", "E").replace("À", "A")
                      for h in HEADER).encode("ascii")  # fmt: skip
    content = header + b"\r\n" + b"1;\x81\x8d\x90\x9d;\x8f\x81x\r\n" * 50
    with pytest.raises(UnusableFile) as caught:
        sniff_file(write(tmp_path, content))
    assert str(caught.value).startswith("Encodage non reconnu")


def test_first_line_longer_than_the_head(tmp_path: Path) -> None:
    content = b"a;" * 40_000 + b"\r\n" + billing_csv([act(1)])
    with pytest.raises(UnusableFile) as caught:
        sniff_file(write(tmp_path, content))
    assert str(caught.value).startswith("Aucune ligne d'en-tête")


# --- the encoding decision beyond the head --------------------------------------------------


def _ascii(name: str) -> str:
    return name.replace("é", "e").replace("ô", "o").replace("É", "E").replace("À", "A")


ASCII_HEADER = [_ascii(name) for name in HEADER]


def ascii_keys(row: dict[str, str]) -> dict[str, str]:
    return {_ascii(name): value for name, value in row.items()}


@pytest.mark.parametrize(("encoding", "expected"), [("cp1252", "cp1252"), ("utf-8", "utf-8")])
def test_accent_after_100_kb_of_ascii(tmp_path: Path, encoding: str, expected: str) -> None:
    plain = [
        ascii_keys(act(n, Patient=f"TEST{n:08d} - DOE, JANE", **{"Doctor Info": "1234567-1 | Roy"}))
        for n in range(1, 2000)
    ]
    late = ascii_keys(act(2000, **ACCENTED))
    content = billing_csv([*plain, late], header=ASCII_HEADER, encoding=encoding, delimiter=";")
    assert content[:100_000].isascii() and not content.isascii()
    path = write(tmp_path, content)
    assert sniff_file(path).encoding == expected
    rows = read(path)
    assert len(rows) == 2000
    assert rows[0].montant_paye == Decimal("49.15")
    assert rows[-1].patient == ACCENTED["Patient"]
    assert rows[-1].secteur_activite == ACCENTED["Secteur d'activité"]


def test_pure_ascii_file_is_utf8(tmp_path: Path) -> None:
    row = ascii_keys(act(1, Patient="TEST00000001 - DOE, JANE", **{"Doctor Info": "x"}))
    content = billing_csv([row], header=ASCII_HEADER)
    assert sniff_file(write(tmp_path, content)).encoding == "utf-8"


def test_a_stray_byte_later_in_a_utf8_file_is_replaced(tmp_path: Path) -> None:
    content = billing_csv([act(1), act(2, Diagnostic="XX")], encoding="utf-8")
    content = content.replace(b"XX", b"X\xe9X")  # a cp1252 "é" inside a UTF-8 file
    rows = read(write(tmp_path, content))
    assert rows[1].diagnostic == "X\ufffdX"
    assert rows[0].patient.endswith("CÔTÉ, FRANÇOIS")


def test_cp1252_undefined_byte_is_replaced(tmp_path: Path) -> None:
    content = billing_csv([act(1, Diagnostic="XX")], encoding="cp1252").replace(b"XX", b"X\x81")
    (row,) = read(write(tmp_path, content))
    assert row.diagnostic == "X\ufffd"


# --- pathological lines ---------------------------------------------------------------------


def test_a_stray_byte_is_reported_on_its_row_and_column(tmp_path: Path) -> None:
    content = billing_csv([act(1), act(2, Diagnostic="XX", Patient="TEST00000002 - YY")])
    content = content.replace(b"XX", b"X\xe9X").replace(b"YY", b"C\xd4T\xc9")  # cp1252 bytes
    rows = read(write(tmp_path, content))
    assert rows[0].problems == ()
    assert rows[1].diagnostic == "X\ufffdX" and rows[1].patient == "TEST00000002 - C\ufffdT\ufffd"
    assert rows[1].problems == (RowProblem(Problem.INVALID_CHARACTER, Column.DIAGNOSTIC),
                                RowProblem(Problem.INVALID_CHARACTER, Column.PATIENT))


def test_a_replacement_character_already_in_the_file_is_reported(tmp_path: Path) -> None:
    """A file damaged by an earlier lossy conversion: the text is not what was typed."""
    content = billing_csv([act(1, Patient="TEST00000001 - C\ufffdT\ufffd, FRAN\ufffdOIS")])
    (row,) = read(write(tmp_path, content))
    assert row.patient == "TEST00000001 - C\ufffdT\ufffd, FRAN\ufffdOIS"
    assert row.problems == (RowProblem(Problem.INVALID_CHARACTER, Column.PATIENT),)


@pytest.mark.parametrize("at_row", [1, 2, 499, 500, 501, 1990])
@pytest.mark.parametrize("delimiter", [",", ";"])
def test_a_nul_byte_in_a_cell_is_removed_and_reported(tmp_path: Path, at_row: int,
                                                     delimiter: str) -> None:
    acts = [act(n) for n in range(1, 2001)]
    acts[at_row - 1] = act(at_row, Diagnostic="AB", **{"Montant payé": "49,1Z"})
    content = billing_csv(acts, delimiter=delimiter)
    content = content.replace(b"AB", b"A\x00B").replace(b"49,1Z", b"49,\x0015")
    rows = read(write(tmp_path, content))
    assert [row.row_number for row in rows] == list(range(1, 2001))
    damaged = rows[at_row - 1]
    assert damaged.diagnostic == "AB"
    assert damaged.montant_paye_text == "49,15" and damaged.montant_paye == Decimal("49.15")
    assert damaged.problems == (RowProblem(Problem.INVALID_CHARACTER, Column.DIAGNOSTIC),
                                RowProblem(Problem.INVALID_CHARACTER, Column.MONTANT_PAYE))
    assert all(row.problems == () for row in rows if row is not damaged)
    assert not any("\0" in value for row in rows for value in _texts(row))


def _texts(row: BillingRow) -> list[str]:
    return [value for value in vars_of(row) if isinstance(value, str)]


def vars_of(row: BillingRow) -> list[object]:
    return [getattr(row, name) for name in row.__slots__]


def test_a_nul_in_a_quoted_cell_spanning_lines_is_removed(tmp_path: Path) -> None:
    content = billing_csv([act(1, Diagnostic="deux\r\nlignes AB"), act(2)]).replace(b"AB", b"\0")
    rows = read(write(tmp_path, content))
    assert rows[0].diagnostic == "deux\r\nlignes "
    assert rows[0].problems == (RowProblem(Problem.INVALID_CHARACTER, Column.DIAGNOSTIC),)
    assert rows[1].problems == ()


def test_a_nul_in_a_column_not_kept_is_removed_without_a_problem(tmp_path: Path) -> None:
    content = billing_csv([act(1, Agence="AB")]).replace(b"AB", b"A\0B")
    (row,) = read(write(tmp_path, content))
    assert row.problems == ()


def test_a_line_of_a_few_nuls_is_a_blank_line(tmp_path: Path) -> None:
    content = billing_csv([act(1)]) + b"\0\0\0\r\n" + billing_csv([act(2)]).split(b"\r\n", 1)[1]
    assert [row.row_number for row in read(write(tmp_path, content))] == [1, 2]


def test_nul_bytes_in_the_header_do_not_hide_its_columns(tmp_path: Path) -> None:
    content = billing_csv([act(1)]).replace(b"Patient", b"Pat\0ient", 1)
    (row,) = read(write(tmp_path, content))
    assert row.patient_id == "TEST00000001" and row.problems == ()


# --- binary content after good rows ---------------------------------------------------------


def _garbage(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
@pytest.mark.parametrize("tail", ["random", "png", "nul padding"])
@pytest.mark.parametrize("good_rows", [3, 1990])
def test_binary_content_after_good_rows_names_the_last_good_row(
    tmp_path: Path, encoding: str, tail: str, good_rows: int
) -> None:
    garbage = {"random": _garbage(good_rows, 50_000), "png": PNG,
               "nul padding": b"\0" * 4096}[tail]
    content = billing_csv([act(n) for n in range(1, good_rows + 1)], encoding=encoding,
                          delimiter=";") + garbage
    path = write(tmp_path, content)
    with pytest.raises(UnusableFile) as caught:
        read(path)  # sniff_file reads the rows of the head when the head looks binary
    assert str(caught.value).startswith(f"Contenu binaire après la ligne de données {good_rows} :")
    assert caught.value.category == "unreadable-file"


@pytest.mark.parametrize("seed", range(20))
def test_random_garbage_after_the_head_is_always_caught_at_the_last_good_row(
    tmp_path: Path, seed: int
) -> None:
    content = billing_csv([act(n) for n in range(1, 1001)], encoding="cp1252", delimiter=";")
    path = write(tmp_path, content + _garbage(seed, 20_000))
    fmt = sniff_file(path)
    with BillingReader(path, fmt) as reader:
        rows: list[BillingRow] = []
        with pytest.raises(UnusableFile) as caught:
            rows.extend(reader)
    assert str(caught.value).startswith("Contenu binaire après la ligne de données 1000 :")
    assert len(rows) >= 1000


def test_binary_right_after_the_header(tmp_path: Path) -> None:
    with pytest.raises(UnusableFile) as caught:
        read(write(tmp_path, billing_csv([]) + PNG))
    assert str(caught.value).startswith("Contenu binaire juste après la ligne d'en-tête")


def test_many_rows_with_a_nul_each_are_not_binary(tmp_path: Path) -> None:
    acts = [act(n, Diagnostic="AB") for n in range(1, 301)]
    content = billing_csv(acts).replace(b"AB", b"A\0\0B")
    rows = read(write(tmp_path, content))
    assert len(rows) == 300 and all(len(row.problems) == 1 for row in rows)


def test_a_binary_head_without_header_is_binary(tmp_path: Path) -> None:
    with pytest.raises(UnusableFile) as caught:
        sniff_file(write(tmp_path, PNG))
    assert str(caught.value).startswith("Le fichier n'est pas un fichier texte")


# --- sep= line and title lines --------------------------------------------------------------


@pytest.mark.parametrize(("first", "delimiter"), [
    ("sep=;", ";"), ("sep=,", ","), ('"sep=;"', ";"), ("SEP=;", ";"), ("sep=\t", "\t"),
])  # fmt: skip
def test_an_excel_sep_line_names_the_delimiter(tmp_path: Path, first: str,
                                               delimiter: str) -> None:
    body = billing_csv([act(1), act(2, Code="19928")], delimiter=delimiter, encoding="cp1252")
    path = write(tmp_path, first.encode() + b"\r\n" + body)
    fmt = sniff_file(path)
    assert (fmt.delimiter, fmt.header_index, fmt.header_size) == (delimiter, 1, 23)
    rows = read(path)
    assert [(row.row_number, row.code) for row in rows] == [(1, "15804"), (2, "19928")]
    assert rows[0].patient == "TEST00000001 - CÔTÉ, FRANÇOIS" and rows[0].problems == ()


def test_a_sep_line_wins_over_sniffing(tmp_path: Path) -> None:
    """`sep=,` on a file whose header also splits on `;`: the line decides."""
    body = billing_csv([act(1)], delimiter=",")
    assert sniff_file(write(tmp_path, b"sep=,\n" + body)).delimiter == ","


TITLES = ["Facturation journalière", "Du 2025-03-01 au 2025-03-31", "",
          "Clinique médicale Test; 50001", '"Rapport ""officiel""", page 1']


@pytest.mark.parametrize("count", [1, 5, 10])
@pytest.mark.parametrize("delimiter", [",", ";"])
def test_title_and_blank_lines_before_the_header_are_skipped(tmp_path: Path, count: int,
                                                             delimiter: str) -> None:
    titles = [TITLES[n % len(TITLES)] for n in range(count)]
    body = billing_csv([act(1), act(2)], delimiter=delimiter, encoding="cp1252")
    path = write(tmp_path, text_csv(titles, encoding="cp1252") + b"\r\n" + body)
    fmt = sniff_file(path)
    assert (fmt.delimiter, fmt.header_index) == (delimiter, count)
    rows = read(path)
    assert [row.row_number for row in rows] == [1, 2]
    assert all(row.problems == () and row.patient_id == f"TEST{n:08d}"
               for n, row in enumerate(rows, 1))


def test_a_sep_line_then_title_lines(tmp_path: Path) -> None:
    body = billing_csv([act(1)], delimiter=";")
    path = write(tmp_path, b"sep=;\r\nFacturation\r\n\r\n" + body)
    assert sniff_file(path).header_index == 3
    assert [row.code for row in read(path)] == ["15804"]


def test_a_title_naming_some_columns_is_not_the_header(tmp_path: Path) -> None:
    body = billing_csv([act(1)], delimiter=";")
    path = write(tmp_path, b"Code;Patient;Total\r\n" + body)
    assert sniff_file(path).header_index == 1
    assert len(read(path)) == 1


def test_eleven_title_lines_are_refused_with_a_hint(tmp_path: Path) -> None:
    titles = [f"Titre {n}" for n in range(11)]
    path = write(tmp_path, text_csv(titles) + b"\r\n" + billing_csv([act(1)]))
    with pytest.raises(UnusableFile) as caught:
        sniff_file(path)
    message = str(caught.value)
    assert message.startswith("Aucune ligne d'en-tête reconnue dans les 11 premières lignes")
    assert "l'en-tête est à la ligne 12" in message and "au plus 10 lignes" in message
    assert caught.value.category == "missing-columns"


def test_many_title_lines_and_no_header_say_where_it_was_looked_for(tmp_path: Path) -> None:
    path = write(tmp_path, text_csv([f"Titre {n}" for n in range(80)]))
    with pytest.raises(UnusableFile) as caught:
        sniff_file(path)
    assert str(caught.value).startswith(
        "Aucune ligne d'en-tête reconnue : aucune des 11 premières lignes du fichier ne nomme "
        "les colonnes attendues (Date de Service,")


def test_title_lines_then_an_incomplete_header_name_the_missing_columns(tmp_path: Path) -> None:
    header = [name for name in HEADER if name != "Patient"]
    path = write(tmp_path, b"Facturation\r\n" + billing_csv([act(1)], header=header))
    with pytest.raises(UnusableFile) as caught:
        sniff_file(path)
    assert str(caught.value) == "Colonnes obligatoires absentes : Patient."


# --- amounts beyond any bill ----------------------------------------------------------------


def test_an_amount_of_a_billion_or_more_is_a_row_problem(tmp_path: Path) -> None:
    rows = read(write(tmp_path, billing_csv([
        act(1, **{"Montant Preliminaire": "999 999 999,99", "Montant payé": "1 000 000 000,00"}),
        act(2, **{"Montant Preliminaire": "-1000000000", "Montant payé": "9" * 30}),
    ], delimiter=";")))
    assert rows[0].montant_preliminaire == Decimal("999999999.99")
    assert (rows[0].montant_paye, rows[0].montant_paye_text) == (None, "1 000 000 000,00")
    assert rows[0].problems == (
        RowProblem(Problem.AMOUNT_OUT_OF_RANGE, Column.MONTANT_PAYE),)
    assert (rows[1].montant_preliminaire, rows[1].montant_paye) == (None, None)
    assert rows[1].problems == (
        RowProblem(Problem.AMOUNT_OUT_OF_RANGE, Column.MONTANT_PRELIMINAIRE),
        RowProblem(Problem.AMOUNT_OUT_OF_RANGE, Column.MONTANT_PAYE),
    )


def test_never_closed_quote_becomes_unusable_not_a_memory_blowup(tmp_path: Path) -> None:
    head = billing_csv([act(1), act(2)], delimiter=";")
    content = head + b'3;"jamais referme' + (b"x" * 1000 + b"\r\n") * 11_000  # 11 MB
    with BillingReader(write(tmp_path, content)) as reader:
        rows: list[BillingRow] = []
        with pytest.raises(UnusableFile) as caught:
            rows.extend(reader)
    assert len(rows) == 2
    assert str(caught.value).startswith("Ligne illisible après la ligne de données 2")


def test_a_bad_line_after_several_batches_names_the_last_good_row(tmp_path: Path) -> None:
    head = billing_csv([act(n) for n in range(1, 1201)], delimiter=";")
    content = head + b'1201;"jamais referme' + (b"x" * 1000 + b"\r\n") * 11_000
    with BillingReader(write(tmp_path, content)) as reader:
        batches: list[list[BillingRow]] = []
        with pytest.raises(UnusableFile) as caught:
            batches.extend(reader.batches(500))
    assert len(batches) == 3 and all(len(batch) <= 500 for batch in batches)
    assert [row.row_number for batch in batches for row in batch] == list(range(1, 1201))
    assert str(caught.value).startswith("Ligne illisible après la ligne de données 1200")


def test_batches_hold_the_rows_of_the_iteration_in_bounded_lists(tmp_path: Path) -> None:
    rows = [act(n) for n in range(1, 1001)]
    rows[40] = {}  # a blank line: skipped, not counted
    path = write(tmp_path, billing_csv(rows, delimiter=";"))
    with BillingReader(path) as reader:
        batches = list(reader.batches(300))
        flat = [row.row_number for row in reader]
    assert all(0 < len(batch) <= 300 for batch in batches)
    assert [row.row_number for batch in batches for row in batch] == flat == list(range(1, 1000))


def test_endless_line_becomes_unusable(tmp_path: Path) -> None:
    content = billing_csv([act(1)], delimiter=";") + b"x;" * 600_000
    with BillingReader(write(tmp_path, content)) as reader:
        iterator = iter(reader)
        assert next(iterator).row_number == 1
        with pytest.raises(UnusableFile) as caught:
            next(iterator)
    assert "ligne de données 1" in str(caught.value)


# --- streaming and progress -----------------------------------------------------------------


def test_reader_uses_a_given_format_and_reports_progress(tmp_path: Path) -> None:
    path = write(tmp_path, billing_csv([act(n) for n in range(1, 51)], delimiter=";"))
    fmt = sniff_file(path)
    assert isinstance(fmt, FileFormat)
    with BillingReader(path, fmt) as reader:
        assert reader.format is fmt
        assert reader.total_bytes == path.stat().st_size
        assert reader.bytes_read == 0
        assert sum(1 for _ in reader) == 50
        assert reader.bytes_read == reader.total_bytes


def test_reader_can_iterate_twice(tmp_path: Path) -> None:
    path = write(tmp_path, billing_csv([act(1), act(2)]))
    reader = BillingReader(path)
    assert [r.row_number for r in reader] == [1, 2]
    assert [r.row_number for r in reader] == [1, 2]


def test_an_amount_out_of_range_stays_so_when_the_amount_cache_is_emptied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from validateur.validation import rowbuilder

    monkeypatch.setattr(rowbuilder, "MAX_CACHED", 5)
    huge = "5 000 000 000,00"
    acts = [act(1, **{"Montant payé": huge})]
    acts += [act(n, **{"Montant payé": f"{n},00"}) for n in range(2, 30)]
    acts += [act(30, **{"Montant payé": huge}), act(31, **{"Montant payé": "abc"})]
    rows = read(write(tmp_path, billing_csv(acts, delimiter=";")))
    assert [(row.row_number, row.problems) for row in rows if row.problems] == [
        (1, (RowProblem(Problem.AMOUNT_OUT_OF_RANGE, Column.MONTANT_PAYE),)),
        (30, (RowProblem(Problem.AMOUNT_OUT_OF_RANGE, Column.MONTANT_PAYE),)),
        (31, (RowProblem(Problem.INVALID_AMOUNT, Column.MONTANT_PAYE),)),
    ]
