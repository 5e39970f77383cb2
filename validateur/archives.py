"""A `.zip` of CSV files in a batch: listed and bounded before anything is extracted.

A zip is cheap to send and can be costly to open: a few kilobytes may inflate to gigabytes
(a "zip bomb"), and a central directory may list millions of entries, which `zipfile`
reads whole into memory when it opens the archive. So, in this order:

1. the end-of-central-directory record is read by hand and the archive refused when it
   lists more than `MAX_ENTRIES` entries (zip64 archives, made for > 65 535 entries or
   > 4 GiB, are refused too: nobody exports that many billing files);
2. each member is judged on its header (`Member.refusal`): folders and system leftovers
   (`__MACOSX/`, `.DS_Store`) are skipped; a path going up (`..`) or absolute, an encrypted
   member, a member that is not `.csv` (a zip inside the zip included), one declared larger
   than the upload limit, or one that would inflate more than `MAX_RATIO` times, is refused
   with a French message; a CSV in a folder of the archive is taken under its own name
   (zipping a folder is the usual way to make the archive; the path is never used on disk,
   the member is copied under a random name);
3. `uploads` then copies each accepted member by chunks with a byte limit
   (`storage.store_stream`), whatever the header said.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from validateur.errors import ValidateurError

#: What reading a member's bytes raises when the archive is at fault (a bad CRC, a truncated
#: or corrupt deflate stream, an unsupported method): an input problem. A failure of our own
#: disk (`OSError` while the member is stored) is not among them: it stays a technical error.
MEMBER_UNREADABLE = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError)
#: Most entries read from one archive (a batch holds at most a few dozen files).
MAX_ENTRIES = 1000
#: A CSV rarely compresses more than 20 times; past 100, the member is refused.
MAX_RATIO = 100
#: Small members may compress very well (a header and a few rows): the ratio is not judged
#: below this size.
RATIO_FLOOR_BYTES = 1024 * 1024
_EOCD = b"PK\x05\x06"
_EOCD_FORMAT = "<4s4H2LH"
_EOCD_SIZE = struct.calcsize(_EOCD_FORMAT)
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_ENCRYPTED = 0x1


class ArchiveRefused(ValidateurError):
    """The archive as a whole cannot be read; the message is French."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Member:
    """One file of the archive: its label, and why it is refused (None when accepted)."""

    info: zipfile.ZipInfo
    file_name: str
    refusal: str | None


def is_zip(path: Path, file_name: str | None) -> bool:
    """A `.zip` by its name or by its first bytes (a renamed archive is still one)."""
    if (file_name or "").lower().endswith(".zip"):
        return True
    with path.open("rb") as handle:
        return handle.read(4) in _ZIP_MAGICS


def members(path: Path, max_bytes: int) -> list[Member]:
    """The archive's files (skipped ones left out), each accepted or refused, in order."""
    _check_entry_count(path)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ArchiveRefused("L'archive ZIP est illisible ou endommagée.") from None
    return [Member(info, PurePosixPath(_posix(info.filename)).name, _refusal(info, max_bytes))
            for info in infos if not _skipped(info)]


def _posix(name: str) -> str:
    return name.replace("\\", "/")


def _skipped(info: zipfile.ZipInfo) -> bool:
    """Folders and the files systems add by themselves (macOS resource forks, .DS_Store)."""
    parts = PurePosixPath(_posix(info.filename)).parts
    return (info.is_dir() or not parts or parts[0] == "__MACOSX"
            or parts[-1].startswith("."))


def _refusal(info: zipfile.ZipInfo, max_bytes: int) -> str | None:
    name = _posix(info.filename)
    limit_mb = max_bytes // (1024 * 1024)
    if name.startswith("/") or ".." in PurePosixPath(name).parts or ":" in name:
        return "Ce chemin dans l'archive n'est pas permis (il sort de l'archive)."
    if not name.lower().endswith(".csv"):
        return "Ce fichier de l'archive n'est pas un fichier CSV ; il n'a pas été pris."
    if info.flag_bits & _ENCRYPTED:
        return "Ce fichier de l'archive est chiffré ; il ne peut pas être lu."
    if info.file_size > max_bytes:
        return (f"Ce fichier de l'archive dépasse la taille maximale ({limit_mb} Mo) une fois "
                "décompressé.")
    if info.file_size > RATIO_FLOOR_BYTES and \
            info.file_size > MAX_RATIO * max(info.compress_size, 1):
        return (f"Ce fichier de l'archive se décompresse plus de {MAX_RATIO} fois sa taille : "
                "refusé par prudence (archive piégée ?).")
    return None


def _check_entry_count(path: Path) -> None:
    """Read the end-of-central-directory record before `zipfile` reads every entry."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            handle.seek(max(size - 65536 - _EOCD_SIZE, 0))
            tail = handle.read()
    except OSError:
        raise ArchiveRefused("L'archive ZIP est illisible ou endommagée.") from None
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < _EOCD_SIZE:
        raise ArchiveRefused("L'archive ZIP est illisible ou endommagée.")
    fields = struct.unpack(_EOCD_FORMAT, tail[at:at + _EOCD_SIZE])
    entries, directory_size = fields[4], fields[5]
    if entries > MAX_ENTRIES or entries == 0xFFFF or directory_size == 0xFFFFFFFF:
        raise ArchiveRefused(f"L'archive contient trop de fichiers (au plus {MAX_ENTRIES}).")
