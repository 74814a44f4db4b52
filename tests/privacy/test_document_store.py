"""The document store against hostile input: names, NUL bytes, sizes, lying extensions.

Files must land only under the store's root, named by their SHA-256, private to the service;
the sender's name is only ever a cleaned label.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.documents import DEFAULT_MAX_BYTES, DocumentRejected, DocumentStore, clean_display_name
from storage.models import Document

PDF = b"%PDF-1.7\n\x00\x01binary\x00with NULs\n%%EOF"

HOSTILE_NAMES = [
    "../../../../etc/passwd",
    "..\\..\\windows\\system32\\drivers\\etc\\hosts",
    "/etc/shadow",
    "C:\\boot.ini",
    "bulletin\x00.pdf.exe",
    "justificatif.pdf\x00../../evil",
    "\u202egnp.exe",  # right-to-left override: shows as "exe.png"
    "a" * 5000 + ".pdf",
    "..",
    ".",
    "",
    "con:aux|nul?*<>\".pdf",
    "\n\r\t.pdf",
]


def _all_files(root: Path) -> list[Path]:
    """Every file under `root` but the SQLite test database (which the `db` fixture puts there)."""
    return [p for p in root.rglob("*") if p.is_file() and not p.name.startswith("test.sqlite3")]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_sender_file_names_never_reach_the_file_system(db, tmp_path, name):
    root = tmp_path / "data" / "documents"
    store = DocumentStore(root)
    with db.session() as s:
        doc = store.store(s, PDF + name.encode("utf-8", "surrogatepass"), kind="proof",
                          display_name=name)
        sha = hashlib.sha256(PDF + name.encode("utf-8", "surrogatepass")).hexdigest()
        assert doc.sha256 == sha
        files = _all_files(tmp_path)
        assert files == [root / sha[:2] / sha[2:]]
        assert files[0].read_bytes().startswith(PDF)
        label = doc.display_name
        if label is not None:
            assert len(label) <= 80
            assert not any(c in label for c in "/\\\x00\n\r\t\u202e")
            assert not label.startswith(".")
    assert clean_display_name("../../../../etc/passwd") == "passwd"


def test_files_and_directories_are_private(db, tmp_path):
    store = DocumentStore(tmp_path / "documents")
    with db.session() as s:
        doc = store.store(s, PDF, kind="proof")
    path = store.path_for(doc.sha256)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.parametrize("bad", [
    "../../etc/passwd", "A" * 64, "0" * 63, "0" * 65, "0" * 63 + "\x00", "0" * 62 + "/.",
])
def test_path_for_accepts_only_a_sha256(tmp_path, bad):
    store = DocumentStore(tmp_path)
    with pytest.raises(ValueError):
        store.path_for(bad)


def test_too_big_is_refused_in_french_and_nothing_is_written(db, tmp_path):
    root = tmp_path / "documents"
    store = DocumentStore(root, max_bytes=1024)
    with db.session() as s:
        assert store.store(s, b"%PDF-" + b"x" * 1019, kind="proof").size == 1024
        with pytest.raises(DocumentRejected) as info:
            store.store(s, b"%PDF-" + b"x" * 1020, kind="proof")
        assert "trop volumineux" in info.value.message_fr
        assert s.scalar(select(func.count()).select_from(Document)) == 1
    assert len(_all_files(root)) == 1

    default = DocumentStore(tmp_path / "default")
    with db.session() as s, pytest.raises(DocumentRejected):
        default.store(s, b"%PDF-" + bytes(DEFAULT_MAX_BYTES), kind="proof")
    assert not (tmp_path / "default").exists() or _all_files(tmp_path / "default") == []


@pytest.mark.parametrize("data", [
    b"MZ\x90\x00\x03 this is a Windows executable",
    b"#!/bin/sh\nrm -rf /\n",
    b"<html><script>alert(1)</script></html>",
    b"\x7fELF\x02\x01\x01",
    b"GIF89a\x01\x00",
], ids=["exe", "shell", "html", "elf", "gif"])
def test_content_decides_the_type_not_the_name(db, tmp_path, data):
    store = DocumentStore(tmp_path / "documents")
    with db.session() as s:
        with pytest.raises(DocumentRejected) as info:
            store.store(s, data, kind="proof", display_name="justificatif.pdf")
        assert "Type de fichier non accepté" in info.value.message_fr
        assert "PDF" in info.value.message_fr
        assert s.scalar(select(func.count()).select_from(Document)) == 0
    assert not (tmp_path / "documents").exists() or _all_files(tmp_path / "documents") == []


def test_empty_file_is_refused(db, tmp_path):
    store = DocumentStore(tmp_path / "documents")
    with db.session() as s, pytest.raises(DocumentRejected) as info:
        store.store(s, b"", kind="proof")
    assert "vide" in info.value.message_fr


def test_same_content_is_one_file_and_survives_until_its_last_row(db, tmp_path):
    store = DocumentStore(tmp_path / "documents")
    with db.session() as s:
        a = store.store(s, PDF, kind="proof", display_name="a.pdf")
        b = store.store(s, PDF, kind="cv", display_name="b.pdf")
        assert a.sha256 == b.sha256 and a.id != b.id
        assert len(_all_files(tmp_path / "documents")) == 1
        s.delete(a)
        s.flush()
        assert store.delete_if_unreferenced(s, a.sha256) is False
        assert store.path_for(a.sha256).exists()
        s.delete(b)
        s.flush()
        assert store.delete_if_unreferenced(s, b.sha256) is True
    assert not store.path_for(a.sha256).exists()


def test_documents_dir_is_inside_the_data_dir_not_a_served_path(tmp_path):
    from clausebot.settings import Settings

    settings = Settings(data_dir=tmp_path / "srv")
    docs = settings.documents_dir.resolve()
    assert docs.is_relative_to(settings.data_dir.resolve())
    assert os.path.basename(docs) == "documents"


def test_a_read_session_still_refuses_to_store_a_document(db, tmp_path):
    """`store` inserts its row with a prebuilt statement (k21intake); a read session's guard,
    which sees ORM flushes only, must still refuse it rather than write behind its back."""
    from storage.db import ReadOnlySessionError

    store = DocumentStore(tmp_path / "docs")
    with pytest.raises(ReadOnlySessionError), db.read_session() as s:
        store.store(s, b"%PDF-1.4 lu seulement", kind="cv")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 0
