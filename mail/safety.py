"""Checks on attached files before anything opens them.

Why: attachments are the hostile part of e-mail. Office files (XLSX, DOCX) are zip archives,
so a "spreadsheet" can be a zip bomb; their XML can carry entity-expansion bombs; encrypted
files cannot be read by the facilitator; winmail.dat hides the real attachments. Everything
here works on bytes in memory, reads zip members through `zipfile` (which never yields more
than the size declared in the central directory and checks CRCs), and never writes a member
to disk, so archive entry names (`../../etc/passwd`) are only ever inspected, not used.

`hostile=True` means the file looks crafted to hurt (bomb, entities, traversal names): the
message goes to quarantine and a facilitator looks at it. Otherwise the sender gets a reply
that says what to do.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

from mail.config import MailConfig
from mail.parsing import Attachment

OFFICE_ZIP_MIMES = frozenset({
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
})
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
_ARCHIVE_MAGIC = (b"Rar!\x1a\x07", b"7z\xbc\xaf\x27\x1c", b"\x1f\x8b")
_XML_DANGER = (b"<!DOCTYPE", b"<!ENTITY", b"<!doctype", b"<!entity")
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Problem:
    code: str
    message_fr: str
    hostile: bool = False
    filename: str | None = None


def _label(att: Attachment) -> str:
    return f"« {att.filename} »" if att.filename else "joint"


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} Mo"


def check_zip(data: bytes, cfg: MailConfig, *, office: bool) -> tuple[str, str, bool] | None:
    """`(code, message_fr, hostile)` when the archive must not be opened, else None."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        return ("zip_illisible", "est illisible (archive corrompue). Réenregistrez-le et renvoyez-le.", False)
    if len(infos) > cfg.max_zip_entries:
        return ("zip_entrees", "contient un nombre anormal de fichiers internes.", True)
    total = 0
    for info in infos:
        name = info.filename
        if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/"):
            return ("zip_chemin", "contient des chemins de fichiers suspects.", True)
        if info.flag_bits & 0x1:
            return ("protege", "est protégé par un mot de passe : envoyez une version sans mot de passe.", False)
        total += info.file_size
        if info.file_size > 1024 * 1024 and info.file_size > cfg.max_zip_ratio * max(info.compress_size, 1):
            return ("zip_bombe", "se décompresse en un volume anormal (taux de compression suspect).", True)
    if total > cfg.max_uncompressed_bytes:
        return ("zip_bombe", f"se décompresse en plus de {_mb(cfg.max_uncompressed_bytes)}.", True)
    if office:
        # Read every XML part for real (the central directory could lie about sizes; zipfile
        # stops at the declared size and checks the CRC) and refuse any DTD: OOXML never has one,
        # and a DTD is how entity-expansion ("billion laughs") bombs are declared.
        read = 0
        try:
            for info in infos:
                if not info.filename.lower().endswith((".xml", ".rels", ".vml")):
                    continue
                with archive.open(info) as member:
                    tail = b""
                    while chunk := member.read(_CHUNK):
                        read += len(chunk)
                        if read > cfg.max_uncompressed_bytes:
                            return ("zip_bombe", "se décompresse en un volume anormal.", True)
                        window = tail + chunk
                        if any(marker in window for marker in _XML_DANGER):
                            return ("xml_entites", "contient des déclarations XML interdites (DTD/entités).", True)
                        tail = chunk[-16:]
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError):
            return ("zip_illisible", "est illisible (archive corrompue). Réenregistrez-le et renvoyez-le.", False)
    return None


def inspect(att: Attachment, cfg: MailConfig) -> Problem | None:
    """The first reason not to use `att`, or None when it may be opened."""
    label = _label(att)
    if att.size > cfg.max_attachment_bytes:
        return Problem(
            "trop_volumineux",
            f"Le fichier {label} est trop volumineux ({_mb(att.size)}) : la limite est de "
            f"{_mb(cfg.max_attachment_bytes)}. Compressez-le ou envoyez un fichier plus léger.",
            filename=att.filename,
        )
    if att.content_type in ("application/ms-tnef", "application/vnd.ms-tnef") or (
        (att.raw_filename or "").lower().endswith("winmail.dat")
    ):
        return Problem(
            "winmail",
            "Votre messagerie (Outlook) a envoyé les pièces jointes dans un fichier « winmail.dat » "
            "illisible. Renvoyez le message au format HTML ou texte brut (pas « Texte enrichi »).",
            filename=att.filename,
        )
    data = att.data
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        office = att.sniffed in OFFICE_ZIP_MIMES or att.extension in ("xlsx", "docx", "xlsm")
        found = check_zip(data, cfg, office=office)
        if found is not None:
            code, text, hostile = found
            return Problem(code, f"Le fichier {label} {text}", hostile=hostile, filename=att.filename)
        if not office:
            return Problem(
                "archive",
                f"Le fichier {label} est une archive ZIP : joignez directement les fichiers "
                "(PDF, XLSX, CSV), sans les compresser.",
                filename=att.filename,
            )
        return None
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        if _ENCRYPTED_PACKAGE in data:
            return Problem(
                "protege",
                f"Le fichier {label} est protégé par un mot de passe : enregistrez-le sans mot de "
                "passe et renvoyez-le.",
                filename=att.filename,
            )
        return Problem(
            "format_ancien",
            f"Le fichier {label} est dans un ancien format Office (XLS/DOC) : enregistrez-le en "
            "XLSX, CSV ou PDF et renvoyez-le.",
            filename=att.filename,
        )
    if data.startswith(b"%PDF-") and b"/Encrypt" in data:
        return Problem(
            "protege",
            f"Le fichier {label} est un PDF protégé (mot de passe ou chiffrement) : envoyez une "
            "version non protégée.",
            filename=att.filename,
        )
    if data.startswith(_ARCHIVE_MAGIC):
        return Problem(
            "archive",
            f"Le fichier {label} est une archive compressée : joignez directement les fichiers "
            "(PDF, XLSX, CSV), sans les compresser.",
            filename=att.filename,
        )
    return None
