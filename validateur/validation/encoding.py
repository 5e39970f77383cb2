"""Is the upload a text file, and in which encoding is it written?

Real exports are Windows-1252 (most), UTF-8 or UTF-8 with a BOM (docs/file-format.md). The
decision:

1. a UTF-8 BOM → `utf-8-sig`;
2. otherwise find the **first non-ASCII byte** of the file: the head (64 KB) is checked first,
   and when it is pure ASCII the rest is scanned in 1 MB binary chunks with `bytes.isascii()`
   (constant memory, several GB/s: a 300 MB file costs a fraction of a second, and the scan
   stops at the first accent, which real files carry in their header line);
3. from that byte, a 64 KB window is decoded as UTF-8 (incremental decoder, so a sequence cut
   by the window's end is fine): more valid multi-byte characters than invalid bytes →
   `utf-8`, otherwise `cp1252`;
4. a pure-ASCII file is `utf-8` (identical to cp1252 on ASCII).

Why a scan rather than "decide on the first 64 KB": a cp1252 file whose first 64 KB are ASCII
(a header without accents, then a `CÔTÉ` on row 900) would be taken for UTF-8 and then fail or
lose its accents. Why not charset-normalizer: after the BOM test only two candidates remain and
UTF-8 validity over a window that contains accents separates them (cp1252 French text is
essentially never valid UTF-8); left free, charset-normalizer picks `mac_latin2` or `cp1250`
for French text, and restricted to our two candidates it adds nothing but time.

The reader then decodes with `errors="replace"`, so a byte that breaks the chosen encoding later
in the file (a damaged, mixed file) becomes U+FFFD in its cell rather than a crash; the reader
reports each such cell (`invalid-character`).

Binary content: the head is binary when control bytes are dense in it (`looks_binary`); a
NUL or two in a cell is not. Further on, the reader checks the rare records holding a NUL or a
U+FFFD with `is_binary_record`, so a valid head followed by garbage stops the run at the first
garbage record, while a stray NUL is only removed from its cell.
"""

from __future__ import annotations

import codecs
import re
from typing import BinaryIO

from validateur.validation.unusable import UnusableFile

HEAD_BYTES = 64 * 1024
SCAN_CHUNK_BYTES = 1024 * 1024
WINDOW_BYTES = 64 * 1024

#: Bytes a text file may hold below 0x20: tab, LF, VT, FF, CR, and Ctrl-Z (old DOS end of file).
_TEXT_CONTROLS = b"\t\n\x0b\x0c\r\x1a"
_ALL_CONTROLS = bytes(range(0x20))
_CONTROL_BYTES = bytes(b for b in _ALL_CONTROLS if b not in _TEXT_CONTROLS)
#: Share of other control bytes above which the head is taken for binary content...
_MAX_CONTROL_SHARE = 0.01
#: ... when there are at least this many of them (a few NULs in cells are damage, not binary).
MIN_BINARY_CONTROLS = 8
#: A record is binary content from this share of control characters (`is_binary_record`)...
BINARY_CONTROL_SHARE = 0.05
#: ... or from this many U+FFFD making up this share of its characters.
MIN_BINARY_REPLACEMENTS = 16
BINARY_REPLACEMENT_SHARE = 0.25
_DELETE_CONTROL_CHARS = dict.fromkeys([*_CONTROL_BYTES, 0x7F])
#: Bytes cp1252 leaves undefined (the reader replaces them with U+FFFD).
_CP1252_UNDEFINED = b"\x81\x8d\x8f\x90\x9d"
_NON_ASCII = re.compile(b"[\x80-\xff]")
_CONTROL = re.compile(b"[" + re.escape(_CONTROL_BYTES) + b"]")

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "Le fichier est encodé en UTF-32"),
    (codecs.BOM_UTF32_BE, "Le fichier est encodé en UTF-32"),
    (codecs.BOM_UTF16_LE, "Le fichier est encodé en UTF-16"),
    (codecs.BOM_UTF16_BE, "Le fichier est encodé en UTF-16"),
    (b"\x1f\x8b", "Le fichier est compressé (gzip)"),
    (b"PK\x03\x04", "Le fichier est une archive ZIP ou un classeur Excel (.xlsx)"),
    (b"\xd0\xcf\x11\xe0", "Le fichier est un classeur Excel (.xls)"),
    (b"%PDF", "Le fichier est un document PDF"),
)
_EXPORT_AGAIN = " : exportez le rapport « Facturation journalière » en CSV (UTF-8 ou Windows-1252)."
EMPTY_MESSAGE = "Le fichier est vide."
BINARY_MESSAGE = "Le fichier n'est pas un fichier texte (contenu binaire)" + _EXPORT_AGAIN
UNKNOWN_ENCODING_MESSAGE = (
    "Encodage non reconnu : le fichier n'est ni en UTF-8 ni en Windows-1252" + _EXPORT_AGAIN
)


def check_text(head: bytes) -> None:
    """Raise `UnusableFile` when the head of a file is empty, compressed, UTF-16 or a document."""
    if not head.removeprefix(codecs.BOM_UTF8).strip():
        raise UnusableFile(EMPTY_MESSAGE)
    for signature, what in _SIGNATURES:
        if head.startswith(signature):
            raise UnusableFile(what + _EXPORT_AGAIN)
    if b"\x00" in head and _looks_like_utf16(head):
        raise UnusableFile("Le fichier est encodé en UTF-16" + _EXPORT_AGAIN)


def looks_binary(head: bytes) -> bool:
    """Control bytes (NUL included) make up more than 1 % of the head, and there are 8 or more.

    A NUL or two in a cell is damage the reader repairs; binary content (an image, an archive,
    random bytes: about one byte in ten is a control byte) is dense.
    """
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    return controls >= MIN_BINARY_CONTROLS and controls > _MAX_CONTROL_SHARE * len(head)


def text_part(head: bytes) -> bytes:
    """The head up to its first control byte: what the encoding of a binary head is judged on
    (the garbage after good rows would otherwise pass for cp1252 or an unknown encoding)."""
    first = _CONTROL.search(head)
    return head if first is None else head[: first.start()]


def is_binary_record(text: str) -> bool:
    """Whether one record (its cells joined) is binary content rather than damaged text.

    Checked only for the rare records holding a NUL or a U+FFFD. Binary when control characters
    (NUL included; tab, line breaks and Ctrl-Z excluded) number `MIN_BINARY_CONTROLS` or more
    and make up at least `BINARY_CONTROL_SHARE` of the characters, or when U+FFFD number
    `MIN_BINARY_REPLACEMENTS` or more and make up at least `BINARY_REPLACEMENT_SHARE`: random
    bytes hold about 10 % of control bytes, and read as UTF-8 about 45 % of U+FFFD, while a
    damaged billing row has a few NULs or one U+FFFD per accented letter.
    """
    size = len(text)
    controls = size - len(text.translate(_DELETE_CONTROL_CHARS))
    if controls >= MIN_BINARY_CONTROLS and controls >= BINARY_CONTROL_SHARE * size:
        return True
    replacements = text.count("\ufffd")
    return (replacements >= MIN_BINARY_REPLACEMENTS
            and replacements >= BINARY_REPLACEMENT_SHARE * size)


def _looks_like_utf16(head: bytes) -> bool:
    """UTF-16 without BOM: ASCII text with a NUL in every other byte."""
    sample = head[:4096]
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    half = len(sample) // 2
    return max(even_nuls, odd_nuls) > 0.4 * half and min(even_nuls, odd_nuls) < 0.05 * half


def detect_encoding(head: bytes, rest: BinaryIO) -> str:
    """`utf-8-sig`, `utf-8` or `cp1252` (module docstring); `rest` is read from after `head`."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    chunk = head
    while chunk.isascii():
        chunk = rest.read(SCAN_CHUNK_BYTES)
        if not chunk:
            return "utf-8"
    first = _NON_ASCII.search(chunk)
    assert first is not None  # the chunk is not pure ASCII
    window = chunk[first.start() : first.start() + WINDOW_BYTES]
    if len(window) < WINDOW_BYTES:
        window += rest.read(WINDOW_BYTES - len(window))
    if _is_utf8(window):
        return "utf-8"
    if _mostly_undefined_in_cp1252(window):
        raise UnusableFile(UNKNOWN_ENCODING_MESSAGE)
    return "cp1252"


def _is_utf8(window: bytes) -> bool:
    """More valid UTF-8 multi-byte characters than invalid bytes in the window.

    cp1252 French text is essentially never valid UTF-8 (`é` is a lone 0xE9), so a cp1252
    window has no valid sequences; a UTF-8 file with a stray cp1252 byte keeps a majority of
    valid ones and is better read as UTF-8 with one U+FFFD than as cp1252 with every accent
    garbled. A sequence cut by the end of the window is not counted.
    """
    text = codecs.getincrementaldecoder("utf-8")("replace").decode(window, final=False)
    genuine = window.count("\ufffd".encode())
    invalid = text.count("\ufffd") - genuine
    valid = len(text) - len(text.encode("ascii", "ignore")) - invalid
    return valid > invalid


def _mostly_undefined_in_cp1252(window: bytes) -> bool:
    """Bytes cp1252 leaves undefined make up 1% or more of the window's non-ASCII bytes."""
    high = len(window) - len(window.translate(None, bytes(range(0x80))))
    undefined = sum(window.count(byte) for byte in _CP1252_UNDEFINED)
    return undefined > 0 and undefined >= 0.01 * high
