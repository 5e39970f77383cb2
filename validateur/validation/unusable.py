"""The one exception of the reading side: a file the service cannot read at all.

`UnusableFile` is raised by `sniff_file` (upload time and job start) and, for a file that breaks
down after its head, while iterating a `BillingReader`. `str(exc)` is a French message for the
user: it names the problem, the missing columns or a row number, never a cell's value.
`category` says which kind of input problem it is, for the run page (`FailureCategory`).
"""

from __future__ import annotations

from validateur.validation.errors import ValidateurError

#: The file cannot be read as a billing export (binary, encoding, broken lines, no header).
UNREADABLE_FILE = "unreadable-file"
#: The header lacks required columns.
MISSING_COLUMNS = "missing-columns"


class UnusableFile(ValidateurError):
    """The file cannot be validated; the message says why, in French, without cell values."""

    def __init__(self, message: str, *, category: str = UNREADABLE_FILE) -> None:
        super().__init__(message)
        self.category = category
