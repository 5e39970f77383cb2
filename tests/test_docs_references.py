"""Every Markdown document the source names is in the repository, at the section it names.

A fresh clone must be able to follow its own docstrings. A reference is a path ending in
`.md`, relative to the repository root; it may name a section as `§ Heading text` (up to a
closing parenthesis, comma, semicolon, double quote or the end of the line; backticks and « »
ignored) or as a GitHub anchor (`#heading-text`). Either must match a heading of that document.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Where references are looked for: the code, its tests, scripts and migrations.
SOURCE_DIRS = ("validateur", "jobs", "scripts", "tests", "migrations", "templates", "static")
SUFFIXES = {".py", ".js", ".html", ".sh", ""}
_REFERENCE = re.compile(
    r"(?P<path>[\w./-]*[\w-]+\.md)\b"
    r"(?:#(?P<anchor>[\w-]+)|,?\s§\s(?P<section>[^),;\"\n]+))?"
)
_HEADING = re.compile(r"^#{1,6}\s+(?P<text>.+?)\s*#*\s*$")


def _sources() -> list[Path]:
    found: list[Path] = []
    for folder in SOURCE_DIRS:
        for path in (ROOT / folder).rglob("*"):
            if (path.is_file() and path.suffix in SUFFIXES
                    and not any(part.startswith(".") or part == "__pycache__"
                                for part in path.relative_to(ROOT).parts)):
                found.append(path)
    return sorted(found)


def references(text: str) -> list[tuple[str, str | None, str | None]]:
    """(path, anchor, section) of every `.md` reference in `text`."""
    return [(m["path"], m["anchor"], _clean(m["section"]) if m["section"] else None)
            for m in _REFERENCE.finditer(text)]


def _clean(heading: str) -> str:
    """A heading or section as compared: no backticks or « », single spaces, no end dot."""
    text = heading.replace("`", "").replace("«", "").replace("»", "")
    return " ".join(text.split()).rstrip(".").strip()


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.replace("`", "").lower()).replace(" ", "-")


def headings(document: Path) -> list[str]:
    """The document's headings (outside fenced code blocks), as written."""
    found: list[str] = []
    fenced = False
    for line in document.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := _HEADING.match(line)):
            found.append(match["text"])
    return found


def broken_references(source: Path) -> list[str]:
    """What `source` cites that the repository does not have."""
    broken: list[str] = []
    for path, anchor, section in references(source.read_text(encoding="utf-8")):
        document = ROOT / path
        if not document.is_file():
            broken.append(path)
            continue
        titles = headings(document)
        if anchor and anchor not in {_anchor(title) for title in titles}:
            broken.append(f"{path}#{anchor}")
        if section and section not in {_clean(title) for title in titles}:
            broken.append(f"{path} § {section}")
    return broken


SOURCES = _sources()


def test_sources_are_found() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in SOURCES}
    assert {"validateur/runs.py", "jobs/validation.py", "scripts/bench"} <= names


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_markdown_reference_resolves(source: Path) -> None:
    assert broken_references(source) == []


def test_the_reference_forms_are_understood(tmp_path: Path) -> None:
    text = ("see docs/rules.md § Common ground), docs/file-format.md#encodings and "
            "docs/rules.md § `office-fee`: office fees 19928 and 19929; README.md.")
    assert references(text) == [
        ("docs/rules.md", None, "Common ground"),
        ("docs/file-format.md", "encodings", None),
        ("docs/rules.md", None, "office-fee: office fees 19928 and 19929"),
        ("README.md", None, None),
    ]
    source = tmp_path / "module.py"
    missing, ghost = "docs/architecture" + ".md § No such heading", "ghost/nowhere" + ".md"
    source.write_text(f'"""Bands: {missing}; {ghost}."""')
    assert broken_references(source) == [missing, ghost]
