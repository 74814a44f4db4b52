"""Data-subject rights and the low-level operations that remove personal data.

Three different things happen to a participant's data, and they must not be confused:

* **Anonymisation** (retention, :mod:`clauses.retention`; here :mod:`clauses.rgpd.anonymise`):
  after a period of inactivity the person is no longer identifiable, but the statistical
  attributes the bilans count are kept (gender, birth year generalised so every age computed at
  a contract date stays exact, commune and QPV flag, status at entry, exit situation). Hours,
  contracts and past bilans do not change.
* **Erasure** (GDPR art. 17, on the person's request, :func:`erase_participant` in
  :mod:`clauses.rgpd.erasure`): everything about the person is deleted, statistical attributes
  included. When contracts exist, their hours stay (they are the company's legal record of the
  clause, art. 17(3)(b) and (e)) attached to an empty row ("EFFACÉ n° 12"), so past totals of
  hours stay right but the person moves to "non renseigné" in typologies. Without contracts the
  row itself is deleted (:mod:`clauses.rgpd.deletion`).
* **Export** (art. 15 and 20, :func:`export_participant` in :mod:`clauses.rgpd.export`):
  everything about the person, as JSON plus the stored documents.

Files are removed from the disk only after the deletion of their rows is committed (a rolled back
transaction must not leave rows pointing at missing files), and only when no other row still
uses the same content (:mod:`clauses.rgpd.document_removal`, :mod:`storage.documents`).

The other modules: :mod:`clauses.rgpd.message_scrub` (alerts and messages quoting a person),
:mod:`clauses.rgpd.subjects` (where a person appears, for the audit log),
:mod:`clauses.rgpd.audit_query` (reading the audit log), :mod:`clauses.rgpd.matrix_doc` (the
authorization matrix as Markdown), :mod:`clauses.rgpd.json_column` (portable JSON comparison).

Public API: import from ``clauses.rgpd``; the names below are stable.
"""

from clauses.rgpd.anonymise import (
    ANONYMOUS_LAST_NAME,
    AnonymisationResult,
    anonymise_participants,
    generalised_birth_date,
)
from clauses.rgpd.audit_query import query_audit
from clauses.rgpd.deletion import delete_participants
from clauses.rgpd.document_removal import (
    delete_documents,
    participant_document_ids,
    remove_files_after_commit,
)
from clauses.rgpd.erasure import (
    ERASED_LAST_NAME,
    ErasurePlan,
    ErasureRefused,
    ErasureResult,
    RunningContract,
    erase_participant,
    erasure_plan,
)
from clauses.rgpd.export import ExportedDocument, SubjectExport, export_participant, write_export
from clauses.rgpd.json_column import stringify_json_column
from clauses.rgpd.matrix_doc import matrix_markdown
from clauses.rgpd.message_scrub import CANCELLED_FR, REDACTED_FR, quoting_messages, scrub_messages
from clauses.rgpd.subjects import participant_audit_row, participant_subjects

__all__ = [
    "ANONYMOUS_LAST_NAME",
    "CANCELLED_FR",
    "ERASED_LAST_NAME",
    "REDACTED_FR",
    "AnonymisationResult",
    "ErasurePlan",
    "ErasureRefused",
    "ErasureResult",
    "ExportedDocument",
    "RunningContract",
    "SubjectExport",
    "anonymise_participants",
    "delete_documents",
    "delete_participants",
    "erase_participant",
    "erasure_plan",
    "export_participant",
    "generalised_birth_date",
    "matrix_markdown",
    "participant_audit_row",
    "participant_document_ids",
    "participant_subjects",
    "query_audit",
    "quoting_messages",
    "remove_files_after_commit",
    "scrub_messages",
    "stringify_json_column",
    "write_export",
]
