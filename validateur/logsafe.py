"""Log lines that cannot be forged and carry no cell values.

A path, a header or a message may hold user-controlled text: a `%0a` in a URL would
otherwise start a fake line in the access log, a NUL byte would reach the log file, and a
right-to-left override would make a line read differently. `SafeFormatter` escapes every
control, separator and bidirectional character of the final message (`\\n`, `\\x00`,
`\\u202e`), so each record stays one line of visible text, whoever logged it. The same
formatter is set on our root handler (`configure`) and on gunicorn's error and access
handlers (`GunicornLogger`, named in `gunicorn.conf.py`): one place, not each call site.

An exception's text may quote a cell (a database driver quoting the offending value), and
a traceback's locals hold rows: an exception is logged as its class and its frames (file,
line, function) only.
"""

from __future__ import annotations

import logging
import sys
import traceback
import unicodedata
from types import TracebackType
from typing import Any

from gunicorn.glogging import Logger as _GunicornBaseLogger

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\x00"}
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def _escape_char(char: str) -> str:
    if char in _SHORT:
        return _SHORT[char]
    if unicodedata.category(char) not in _ESCAPED_CATEGORIES:
        return char
    point = ord(char)
    return f"\\x{point:02x}" if point < 0x100 else f"\\u{point:04x}"


def escape_controls(text: str) -> str:
    """`text` with every control, separator and format character written as an escape."""
    if text.isprintable():
        return text
    return "".join(_escape_char(c) for c in text)


def exception_outline(exc_info: ExcInfo | tuple[None, None, None]) -> str:
    """The exception's class and its frames, without its message or any local value."""
    exc_type, _exc, tb = exc_info
    if exc_type is None:
        return ""
    frames = traceback.extract_tb(tb)
    lines = ["Traceback (most recent call last; exception text omitted):"]
    lines += [f'  File "{f.filename}", line {f.lineno}, in {f.name}' for f in frames]
    lines.append(f"{exc_type.__module__}.{exc_type.__qualname__}")
    return "\n".join(escape_controls(line) for line in lines)


class SafeFormatter(logging.Formatter):
    """Escapes the message; prints exceptions as class and frames (see the module)."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.getMessage())
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line

    def formatException(self, ei: Any) -> str:
        return exception_outline(ei)


def configure(level: int = logging.INFO) -> None:
    """Our processes' root handler, with the safe formatter (a no-op when one exists)."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    # Alembic announces each of its plugins at INFO whenever Flask-Migrate loads it: noise.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def _wsgi_to_text(value: Any) -> Any:
    """A WSGI string (UTF-8 bytes read as latin-1) as the text it spells, when it does."""
    if not isinstance(value, str):
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


class GunicornLogger(_GunicornBaseLogger):  # type: ignore[misc]
    """gunicorn's logger whose error and access handlers format through `SafeFormatter`.

    The path and query are logged as the text they spell (so a bidirectional override in a
    path shows as `\\u202e`, not as three latin-1 characters), then escaped like any line.
    """

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key in ("U", "q", "r"):
            atoms[key] = _wsgi_to_text(atoms.get(key))
        return atoms

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                current = handler.formatter or logging.Formatter()
                handler.setFormatter(SafeFormatter(current._fmt, current.datefmt))
