"""The one exception of the reading side: a file the service cannot read at all.

`UnusableFile` is raised by `sniff_file` (upload time and job start) and, for a file that breaks
down after its head, while iterating a `BillingReader`. `str(exc)` is a French message for the
user: it names the problem, the missing columns or a row number, never a cell's value.
"""

from __future__ import annotations


class UnusableFile(Exception):
    """The file cannot be validated; the message says why, in French, without cell values."""
