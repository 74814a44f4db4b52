"""Deleting a person's documents: rows now, files only once the deletion is committed.

Files are removed from the disk only after the deletion of their rows is committed (a rolled back
transaction must not leave rows pointing at missing files), and only when no other row still
uses the same content (the store is content-addressed, see :mod:`storage.documents`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, event, select, update
from sqlalchemy.orm import Session

from clauses.context import Context
from storage.models import Base, Candidature, Contract, Document, Eligibility, HourDeclaration

_FILES_KEY = "clausebot_rgpd_files_to_remove"
_HOOKED_KEY = "clausebot_rgpd_files_hooked"


def _document_references() -> list[Any]:
    """Every mapped column that points at documents.id, found from the models themselves.

    Looking them up instead of listing them means a column added later by another module is
    detached too, instead of making the DELETE fail on a foreign key.
    """
    refs = []
    for mapper in Base.registry.mappers:
        for attr in mapper.column_attrs:
            for column in attr.columns:
                if any(fk.target_fullname == "documents.id" for fk in column.foreign_keys):
                    refs.append(getattr(mapper.class_, attr.key))
    return refs


def participant_document_ids(session: Session, participant_ids: Sequence[int]) -> set[int]:
    """The documents about these persons: theirs, their CVs, proofs and declaration proofs."""
    if not participant_ids:
        return set()
    ids = list(participant_ids)
    contract_ids = select(Contract.id).where(Contract.participant_id.in_(ids))
    q = (
        select(Document.id).where(Document.participant_id.in_(ids))
        .union(
            select(Candidature.cv_document_id).where(Candidature.participant_id.in_(ids)),
            select(Eligibility.proof_document_id).where(Eligibility.participant_id.in_(ids)),
            select(HourDeclaration.proof_document_id).where(
                HourDeclaration.contract_id.in_(contract_ids)
            ),
        )
    )
    return {i for i in session.scalars(q) if i is not None}


def delete_documents(ctx: Context, session: Session, document_ids: Iterable[int]) -> list[str]:
    """Detach and delete document rows now; remove their files once this is committed.

    Returns the SHA-256 of the deleted rows (a file shared with a surviving row is kept).
    """
    ids = sorted(set(document_ids))
    if not ids:
        return []
    for column in _document_references():
        session.execute(
            update(column.class_).where(column.in_(ids)).values({column.key: None}),
            execution_options={"synchronize_session": "fetch"},
        )
    shas = sorted(set(session.scalars(select(Document.sha256).where(Document.id.in_(ids)))))
    session.execute(delete(Document).where(Document.id.in_(ids)),
                    execution_options={"synchronize_session": "fetch"})
    session.flush()
    remove_files_after_commit(ctx, session, shas)
    return shas


def remove_files_after_commit(ctx: Context, session: Session, shas: Iterable[str]) -> None:
    """Unlink these files when `session` really commits; forget them if it rolls back.

    `after_commit` also fires when a SAVEPOINT is released: only the outermost commit counts.
    """
    pending: set[str] = session.info.setdefault(_FILES_KEY, set())
    pending.update(shas)
    if not pending or session.info.get(_HOOKED_KEY):
        return
    session.info[_HOOKED_KEY] = True

    def _after_commit(sess: Session) -> None:
        if sess.get_nested_transaction() is not None:
            return
        todo = sess.info.pop(_FILES_KEY, set())
        if not todo:
            return
        # A fresh session re-checks the committed state: a row added meanwhile keeps its file.
        with ctx.db.session() as fresh:
            for sha in sorted(todo):
                ctx.documents.delete_if_unreferenced(fresh, sha)

    def _after_soft_rollback(sess: Session, previous) -> None:
        if not previous.nested:
            sess.info.pop(_FILES_KEY, None)

    event.listen(session, "after_commit", _after_commit)
    event.listen(session, "after_soft_rollback", _after_soft_rollback)
