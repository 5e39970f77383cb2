"""The base of the service's own exceptions, standard library only.

It lives in the framework-free core so that the core's exceptions (`UnusableFile`,
`AmountOutOfRange`) can derive from it without importing a driver; `validateur.errors`
re-exports it and draws the whole tree.
"""

from __future__ import annotations


class ValidateurError(Exception):
    """Base of every exception the service raises on purpose (see `validateur.errors`).

    Its text never quotes a cell value: exceptions travel to Redis (RQ's failed-job
    traceback), to logs and sometimes, in French, to the user.
    """
