"""Subject rights: export (art. 15/20), erasure (art. 17) with its safeguards, the audit log."""

from __future__ import annotations

import datetime as dt
import json
import stat
import zipfile
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from clauses.actors import Actor
from clauses.authz import NotAllowed
from clauses.declarations import record_declaration
from clauses.rgpd import (
    ERASED_LAST_NAME,
    ErasureRefused,
    erase_participant,
    erasure_plan,
    export_participant,
    matrix_markdown,
    query_audit,
    write_export,
)
from storage.models import (
    Alert,
    AlertKind,
    AuditEntry,
    Candidature,
    CandidatureStatus,
    Channel,
    Contract,
    Document,
    Eligibility,
    HourDeclaration,
    OutboxChannel,
    OutboxMessage,
    OutboxStatus,
    Participant,
    Role,
)
from tests import factories as f
from tests.privacy._world import candidature

ADMIN = Actor(role=Role.ADMIN, channel=Channel.CLI, label="cli:dpo")


def _person_with_everything(ctx, s, *, end: dt.date | None = dt.date(2025, 5, 31)):
    """Marie Dupont: a contract (ending `end`), two declarations, a CV and a proof."""
    t = f.territory(s)
    p = t["participant"]
    p.email, p.phone = "marie.dupont@example.test", "0612345678"
    t["contract"].end_date = end
    company = Actor.from_user(t["company_user"], Channel.TELEGRAM)
    for month, hours in ((dt.date(2025, 3, 1), 35), (dt.date(2025, 4, 1), 70)):
        record_declaration(ctx, s, company, contract_id=t["contract"].id, month=month,
                           work_hours=Decimal(hours), source=Channel.TELEGRAM)
    cv = ctx.documents.store(s, b"%PDF-1.4 cv de Marie", kind="cv", participant_id=p.id)
    proof = ctx.documents.store(s, b"\x89PNG\r\n\x1a\n attestation", kind="proof",
                                participant_id=p.id)
    s.scalar(select(Eligibility)).proof_document_id = proof.id
    cand = candidature(s, p, t["company"], cv_document_id=cv.id, message="Très motivée",
                       status=CandidatureStatus.VALIDEE)
    t["contract"].candidature_id = cand.id
    other = candidature(s, p, t["company"], message="ancienne", status=CandidatureStatus.REFUSEE)
    s.add(Alert(kind=AlertKind.CANDIDATURE_A_VALIDER, subject_type="candidature",
                subject_id=other.id, message="Candidature à valider : DUPONT Marie"))
    s.flush()
    return t, {"cv": cv.sha256, "proof": proof.sha256}, cand.id, other.id


def test_export_holds_everything_about_the_person_and_is_audited(ctx, tmp_path):
    with ctx.db.session() as s:
        t, shas, cand_id, _ = _person_with_everything(ctx, s)
        pid = t["participant"].id
    with ctx.db.session() as s:
        export = export_participant(ctx, s, ADMIN, pid)
    data = json.loads(export.to_json())
    assert data["personne"]["last_name"] == "Dupont"
    assert data["personne"]["email"] == "marie.dupont@example.test"
    assert data["personne"]["birth_date"] == "1990-05-17"
    assert [e["criterion"] for e in data["eligibilites"]] == ["deld"]
    assert {c["id"] for c in data["candidatures"]} >= {cand_id}
    assert data["contrats"][0]["entreprise"] == "BTP Rhône" and data["contrats"][0]["marche"] == "2025-017"
    assert [d["work_hours"] for d in data["declarations_heures"]] == ["35.00", "70.00"]
    assert len(data["revisions_declarations"]) == 2
    assert "idempotency_key" not in data["revisions_declarations"][0]
    assert {d["sha256"] for d in data["documents"]} == set(shas.values())
    actions = [e["action"] for e in data["journal_acces"]]
    assert actions.count("declaration.created") == 2
    assert len(data["alertes"]) == 1
    assert {d.content for d in export.documents} == {b"%PDF-1.4 cv de Marie",
                                                     b"\x89PNG\r\n\x1a\n attestation"}

    zipped = write_export(export, tmp_path / "out" / "export.zip")
    assert stat.S_IMODE(zipped.stat().st_mode) == 0o600
    with zipfile.ZipFile(zipped) as zf:
        names = set(zf.namelist())
        assert f"personne-{pid}.json" in names
        assert json.loads(zf.read(f"personne-{pid}.json"))["personne"]["id"] == pid
        for doc in export.documents:
            assert zf.read(doc.filename) == doc.content
        assert all(".." not in n and not n.startswith("/") for n in names)
    folder = write_export(export, tmp_path / "dossier")
    assert (folder / f"personne-{pid}.json").exists()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert len(list((folder / "documents").iterdir())) == 2
    from clauses.errors import DomainError

    with pytest.raises(DomainError):  # never overwrite an earlier export
        write_export(export, zipped)
    with ctx.db.session() as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "rgpd.export"))
        assert (entry.subject_id, entry.actor_label, entry.channel) == (pid, "cli:dpo", Channel.CLI)


def test_export_reports_a_missing_file_instead_of_failing(ctx):
    with ctx.db.session() as s:
        t, shas, *_ = _person_with_everything(ctx, s)
        pid = t["participant"].id
    ctx.documents.path_for(shas["cv"]).unlink()
    with ctx.db.session() as s:
        export = export_participant(ctx, s, ADMIN, pid)
    assert json.loads(export.to_json())["documents"]
    missing = [d for d in export.data["documents"] if d["fichier"] is None]
    assert [d["sha256"] for d in missing] == [shas["cv"]]


def test_erasure_is_refused_while_a_contract_runs_unless_forced_with_a_reason(ctx):
    with ctx.db.session() as s:
        t, shas, *_ = _person_with_everything(ctx, s, end=None)
        pid = t["participant"].id
    with ctx.db.session() as s:
        plan = erasure_plan(ctx, s, ADMIN, pid)
        assert [r.company for r in plan.running] == ["BTP Rhône"]
        assert any("contrat en cours" in line for line in plan.lines_fr())
    for reason in (None, "   "):
        with pytest.raises(ErasureRefused) as info, ctx.db.session() as s:
            erase_participant(ctx, s, ADMIN, pid, force_reason=reason)
        assert "--force" in info.value.message_fr
    with ctx.db.session() as s:
        assert s.get(Participant, pid).last_name == "Dupont"
    assert ctx.documents.path_for(shas["cv"]).exists()
    with ctx.db.session() as s:
        erase_participant(ctx, s, ADMIN, pid, force_reason="demande écrite du 02/06/2025")
    with ctx.db.session() as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "rgpd.erase"))
        assert entry.detail["force_reason"] == "demande écrite du 02/06/2025"
        assert s.get(Participant, pid).last_name == ERASED_LAST_NAME


def test_erasure_with_past_contracts_keeps_the_hours_without_any_identity(ctx):
    with ctx.db.session() as s:
        t, shas, cand_id, other_id = _person_with_everything(ctx, s)
        pid = t["participant"].id
        hours_before = s.scalar(select(func.sum(HourDeclaration.counted_hours)))
    with ctx.db.session() as s:
        result = erase_participant(ctx, s, ADMIN, pid)
    assert not result.row_deleted
    with ctx.db.session() as s:
        p = s.get(Participant, pid)
        assert (p.last_name, p.first_name) == (ERASED_LAST_NAME, f"n° {pid}")
        assert (p.birth_date, p.gender, p.commune, p.email, p.phone, p.status_at_entry,
                p.exit_situation, p.qpv) == (None, None, None, None, None, None, None, False)
        assert s.scalar(select(func.sum(HourDeclaration.counted_hours))) == hours_before
        assert s.scalar(select(func.count()).select_from(Contract)) == 1
        assert s.scalar(select(func.count()).select_from(Eligibility)) == 0
        assert s.scalar(select(func.count()).select_from(Document)) == 0
        kept = s.get(Candidature, cand_id)  # cited by the contract: emptied, not deleted
        assert (kept.message, kept.criteria_claimed, kept.cv_document_id) == (None, [], None)
        assert s.get(Candidature, other_id) is None
        assert "DUPONT" not in s.scalar(select(Alert.message))
    assert not any(ctx.documents.path_for(sha).exists() for sha in shas.values())


def test_erasure_without_contracts_deletes_the_row(ctx):
    with ctx.db.session() as s:
        p = f.participant(s, "Seul", "Ilan")
        cv = ctx.documents.store(s, b"%PDF-1.4 cv", kind="cv", participant_id=p.id)
        cand = candidature(s, p, cv_document_id=cv.id)
        alert = Alert(kind=AlertKind.CANDIDATURE_A_VALIDER, subject_type="candidature",
                      subject_id=cand.id, message="Candidature à valider : SEUL Ilan")
        s.add(alert)
        s.flush()
        s.add(OutboxMessage(channel=OutboxChannel.EMAIL, dedup_key=f"alert:{alert.id}:user:1",
                            to_address="fanny@agence.test", subject="[clausebot] SEUL Ilan",
                            body_text="Candidature à valider : SEUL Ilan"))
        pid, sha = p.id, cv.sha256
    with ctx.db.session() as s:
        plan = erasure_plan(ctx, s, ADMIN, pid)
        assert (plan.deletes_row, plan.alerts, plan.messages, plan.documents) == (True, 1, 1, 1)
        assert erase_participant(ctx, s, ADMIN, pid).row_deleted
    with ctx.db.session() as s:
        assert s.get(Participant, pid) is None
        msg = s.scalar(select(OutboxMessage))
        assert msg.status == OutboxStatus.DEAD  # never sent, not even blank
        assert "SEUL" not in msg.body_text + msg.subject
        assert "SEUL" not in s.scalar(select(Alert.message))
        assert s.scalar(select(func.count()).select_from(Candidature)) == 0
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.subject_id == pid)))
        assert actions == ["rgpd.erase_preview", "rgpd.erase_preview", "rgpd.erase"]
    assert not ctx.documents.path_for(sha).exists()


def test_audit_query_filters_by_person_actor_and_date(ctx):
    with ctx.db.session() as s:
        t, *_ = _person_with_everything(ctx, s)
        pid = t["participant"].id
        other = f.participant(s, "Autre", "Yan")
        s.add(AuditEntry(actor_label="Fanny", channel=Channel.TELEGRAM, action="participant.read",
                         subject_type="participant", subject_id=other.id,
                         at=dt.datetime(2024, 1, 5, tzinfo=dt.UTC)))
    with ctx.db.session() as s:
        export_participant(ctx, s, ADMIN, pid)
    with ctx.db.session() as s:
        about = query_audit(s, ADMIN, participant_id=pid)
        assert {e.action for e in about} == {"declaration.created", "rgpd.export"}
        assert all(e.subject_id != other.id or e.subject_type != "participant" for e in about)
        by_company = query_audit(s, ADMIN, actor_filter="chef btp")
        assert {e.action for e in by_company} == {"declaration.created"}
        since = query_audit(s, ADMIN, since=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
        assert "participant.read" not in {e.action for e in since}
        everything = query_audit(s, ADMIN)
        assert "participant.read" in {e.action for e in everything}
        fac = Actor(role=Role.FACILITATEUR, channel=Channel.TELEGRAM, label="fac")
        with pytest.raises(NotAllowed):
            query_audit(s, fac)
    with ctx.db.session() as s:  # reading the log is itself logged
        assert s.scalar(select(func.count()).where(AuditEntry.action == "audit.read")) == 4


def test_matrix_markdown_has_one_row_per_action_and_one_column_per_role():
    from clauses.authz import MATRIX, Action

    lines = matrix_markdown("fr").splitlines()
    assert len(lines) == 2 + len(Action)
    assert lines[0].count("|") == len(Role) + 2
    row = next(line for line in lines if "`rgpd`" in line)
    assert row.split("|")[2].strip() == "tout"  # admin
    assert all(cell.strip() == "—" for cell in row.split("|")[3:-1])
    assert len(MATRIX) == len(Action)


def test_anonymisation_drops_chat_conversations_that_hold_the_person(ctx):
    from clauses.rgpd import anonymise_participants
    from storage.models import ConversationState

    with ctx.db.session() as s:
        t = f.territory(s)
        other = f.participant(s, "Martin", "Paul", validated_by=t["facilitator"])
        other_contract = f.contract(s, other, t["engagement"])
        pid, cid = t["participant"].id, t["contract"].id
        s.add_all([
            ConversationState(conversation="c1", chat_id=1, user_id=1, state="contract",
                              data={"offer": [[cid, 1, 2, "Lot 2", "2025-017", "DUPONT Marie"]]}),
            ConversationState(conversation="c2", chat_id=2, user_id=2, state="hours",
                              data={"contract_id": cid}),
            ConversationState(conversation="c3", chat_id=3, user_id=3, state="name",
                              data={"typed": "Candidat : Dupont Marie, CV joint"}),
            ConversationState(conversation="c4", chat_id=4, user_id=4, state="contract",
                              data={"offer": [[other_contract.id, 1, 2, "Lot 2", "2025-017",
                                               "MARTIN Paul"]]}),
        ])
    with ctx.db.session() as s:
        anonymise_participants(ctx, s, ADMIN, [pid], reason="test")
    with ctx.db.session() as s:
        assert [c.conversation for c in s.scalars(select(ConversationState))] == ["c4"]
