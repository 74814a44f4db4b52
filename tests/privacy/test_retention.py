"""Retention: the scheduled purge, its dry run, and anonymisation that leaves bilans unchanged."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import String, case, extract, func, select, type_coerce

from clauses.actors import Actor
from clauses.bilan.compute import annual_figures, market_figures, territory_figures
from clauses.context import Policy
from clauses.retention import months_before, run_purge
from clauses.rgpd import ANONYMOUS_LAST_NAME, REDACTED_FR, generalised_birth_date
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
    InboundMail,
    MailStatus,
    OutboxChannel,
    OutboxMessage,
    OutboxStatus,
    Participant,
    Role,
)
from tests import factories as f
from tests.privacy._world import candidature, declaration

PARIS_NOON = dt.time(12, 0)


def pdf(tag: str) -> bytes:
    return b"%PDF-1.4\n" + tag.encode() + b"\n%%EOF\n"


def at(ctx, day: dt.date) -> None:
    ctx.clock.set(dt.datetime.combine(day, PARIS_NOON))


def file_of(ctx, sha: str):
    return ctx.documents.path_for(sha)


def audit_actions(s, participant_id: int | None = None) -> list[str]:
    q = select(AuditEntry.action).order_by(AuditEntry.id)
    if participant_id is not None:
        q = q.where(AuditEntry.subject_type == "participant", AuditEntry.subject_id == participant_id)
    return list(s.scalars(q))


# -- rejected candidates -----------------------------------------------------------------------------


def _rejected_candidate(ctx, s, fac):
    """A candidate refused today, with a CV, an alert quoting the name and a decision message."""
    c = f.company(s, "BTP Ouest", facilitator=fac)
    p = f.participant(s, "Refusé", "Noé", email="noe@example.test", phone="0600000000")
    cv = ctx.documents.store(s, pdf("cv-noe"), kind="cv", display_name="CV Noé.pdf",
                             participant_id=p.id)
    cand = candidature(s, p, c, cv_document_id=cv.id, message="Motivé, RQTH",
                       criteria=["rqth"], status=CandidatureStatus.REFUSEE,
                       decided_at=ctx.clock.now(), refusal_reason="justificatif RQTH absent",
                       created_at=ctx.clock.now())
    s.add(Alert(kind=AlertKind.CANDIDATURE_A_VALIDER, subject_type="candidature",
                subject_id=cand.id, message="Candidature à valider : REFUSÉ Noé"))
    s.add(OutboxMessage(channel=OutboxChannel.EMAIL, dedup_key=f"candidature:{cand.id}:decision",
                        to_address="presc@example.test", subject="Candidature : REFUSÉ N.",
                        body_text="Votre candidature (REFUSÉ N.) a été refusée",
                        status=OutboxStatus.SENT))
    s.flush()
    return p, cand, cv


def test_rejected_candidate_is_deleted_three_months_after_the_refusal(ctx):
    fac_id = None
    with ctx.db.session() as s:
        fac = f.user(s, Role.FACILITATEUR)
        fac_id = fac.id
        p, cand, cv = _rejected_candidate(ctx, s, fac)
        pid, cid, sha = p.id, cand.id, cv.sha256
    refused_on = ctx.clock.today()
    assert file_of(ctx, sha).exists()

    at(ctx, refused_on + dt.timedelta(days=88))  # less than 3 months: kept
    with ctx.db.session() as s:
        report = run_purge(ctx, s, dry_run=False)
        assert report.rejected_participants == [] and report.total == 0
        assert s.get(Participant, pid) is not None

    at(ctx, refused_on + dt.timedelta(days=93))
    with ctx.db.session() as s:
        dry = run_purge(ctx, s, dry_run=True)
    assert dry.rejected_participants == [pid]
    assert any(f"n° {pid}" in line for line in dry.lines_fr())
    with ctx.db.session() as s:  # the dry run changed nothing
        assert s.get(Participant, pid).last_name == "Refusé"
        assert s.get(Candidature, cid) is not None
    assert file_of(ctx, sha).exists()

    with ctx.db.session() as s:
        real = run_purge(ctx, s, dry_run=False)
    assert real.rejected_participants == dry.rejected_participants
    assert sha in real.files_deleted
    with ctx.db.session() as s:
        assert s.get(Participant, pid) is None
        assert s.get(Candidature, cid) is None
        assert s.scalar(select(func.count()).select_from(Document)) == 0
        alert = s.scalar(select(Alert))
        assert alert.message == REDACTED_FR
        msg = s.scalar(select(OutboxMessage))
        assert "REFUSÉ" not in (msg.body_text + (msg.subject or ""))
        assert "retention.rejected_deleted" in audit_actions(s, pid)
        assert audit_actions(s)[-1] == "retention.purge"
        assert s.get(Participant, pid) is None and fac_id is not None
    assert not file_of(ctx, sha).exists()

    with ctx.db.session() as s:  # a second run finds nothing
        assert run_purge(ctx, s, dry_run=False).total == 0


def test_refused_candidature_of_a_followed_person_only_loses_its_contents(ctx):
    with ctx.db.session() as s:
        t = f.territory(s)
        p = t["participant"]
        cv = ctx.documents.store(s, pdf("cv-marie"), kind="cv", participant_id=p.id)
        old = candidature(s, p, t["company"], cv_document_id=cv.id, message="texte libre",
                          criteria=["rqth"], status=CandidatureStatus.REFUSEE,
                          decided_at=ctx.clock.now(), refusal_reason="motif")
        pid, cid, sha = p.id, old.id, cv.sha256
    at(ctx, ctx.clock.today() + dt.timedelta(days=100))
    with ctx.db.session() as s:
        report = run_purge(ctx, s, dry_run=False)
    assert report.rejected_participants == []
    assert report.refused_candidatures == [cid]
    with ctx.db.session() as s:
        c = s.get(Candidature, cid)
        assert (c.message, c.refusal_reason, c.cv_document_id, c.criteria_claimed) == (
            None, None, None, [])
        assert s.get(Participant, pid).last_name == "Dupont"
    assert not file_of(ctx, sha).exists()
    with ctx.db.session() as s:
        assert run_purge(ctx, s, dry_run=False).refused_candidatures == []


def test_pending_or_validated_candidates_are_not_rejected_candidates(ctx):
    with ctx.db.session() as s:
        fac = f.user(s, Role.FACILITATEUR)
        p1 = f.participant(s, "Attente", "Léa")
        candidature(s, p1, status=CandidatureStatus.REFUSEE, decided_at=ctx.clock.now())
        candidature(s, p1, status=CandidatureStatus.A_VALIDER)
        p2 = f.participant(s, "Validée", "Zoé", validated_by=fac)
        candidature(s, p2, status=CandidatureStatus.REFUSEE, decided_at=ctx.clock.now())
    at(ctx, ctx.clock.today() + dt.timedelta(days=120))
    with ctx.db.session() as s:
        report = run_purge(ctx, s, dry_run=True)
    assert report.rejected_participants == []


# -- inactive participants: anonymised, bilans unchanged ------------------------------------------------

PEOPLE = [
    # (last name, birth, gender, qpv, commune, status, exit, [(market idx, start, end, hours)])
    ("Alpha", dt.date(1996, 3, 10), "F", True, "Vénissieux", "deld", "cdi",
     [(0, dt.date(2022, 2, 1), dt.date(2022, 12, 31), 140)]),  # 25 at start; 26 with 01/01
    ("Bravo", dt.date(1972, 6, 30), "M", False, "Oullins", "senior", "recherche_emploi",
     [(0, dt.date(2022, 5, 2), dt.date(2023, 1, 31), 300)]),  # 49 at start; 50 with 01/01
    ("Charlie", dt.date(1996, 6, 15), "X", True, "Vénissieux", "rsa", None,
     [(0, dt.date(2022, 1, 3), dt.date(2022, 6, 30), 70),
      (1, dt.date(2022, 9, 1), dt.date(2023, 2, 28), 90)]),  # 25 then 26: per-market bands
    ("Delta", None, "F", False, None, None, "cdd_moins_6_mois",
     [(1, dt.date(2022, 3, 1), dt.date(2022, 8, 31), 50)]),
    ("Echo", dt.date(1990, 5, 17), None, False, "Lyon", "rqth", "formation_qualifiante",
     [(1, dt.date(2022, 4, 4), dt.date(2023, 3, 31), 210)]),
]


def _age_band(birth: dt.date | None, ref: dt.date) -> str:
    if birth is None:
        return "non_renseigne"
    age = ref.year - birth.year - ((ref.month, ref.day) < (birth.month, birth.day))
    return "moins_26" if age < 26 else "26_49" if age < 50 else "50_plus"


def _own_aggregate(s) -> list[tuple]:
    """An independent SQL aggregate: hours and persons by age band, gender, QPV, commune,
    status and exit, the age taken at each person's first contract (one GROUP BY)."""
    first = (select(Contract.participant_id, func.min(Contract.start_date).label("first"))
             .group_by(Contract.participant_id).subquery())
    hours = (select(Contract.participant_id, func.sum(HourDeclaration.counted_hours).label("h"))
             .join(HourDeclaration, HourDeclaration.contract_id == Contract.id)
             .group_by(Contract.participant_id).subquery())

    def ymd(col):
        return extract("year", col) * 10000 + extract("month", col) * 100 + extract("day", col)

    diff = ymd(first.c.first) - ymd(Participant.birth_date)
    band = case((Participant.birth_date.is_(None), "non_renseigne"),
                (diff < 260000, "moins_26"), (diff < 500000, "26_49"), else_="50_plus")
    q = (
        select(band, type_coerce(Participant.gender, String), Participant.qpv,
               Participant.commune, Participant.status_at_entry, Participant.exit_situation,
               func.count(Participant.id), func.sum(hours.c.h))
        .join(first, first.c.participant_id == Participant.id)
        .join(hours, hours.c.participant_id == Participant.id)
        .group_by(band, Participant.gender, Participant.qpv, Participant.commune,
                  Participant.status_at_entry, Participant.exit_situation)
    )
    return sorted((tuple(str(v) for v in row) for row in s.execute(q)), key=repr)


def _all_figures(s, rulebook, donneur_ids, market_ids):
    figures = [territory_figures(s, dt.date(2022, 1, 1), dt.date(2023, 12, 31), rulebook)]
    for year in (2022, 2023):
        figures += [annual_figures(s, d, dt.date(year, 1, 1), dt.date(year, 12, 31), rulebook)
                    for d in donneur_ids]
    figures += [market_figures(s, m, None, rulebook) for m in market_ids]
    figures += [market_figures(s, m, dt.date(2022, 10, 15), rulebook) for m in market_ids]
    return [dataclasses.asdict(x) for x in figures]


def _inactive_territory(ctx, s):
    fac = f.user(s, Role.FACILITATEUR)
    markets, engagements = [], []
    for i in range(2):
        d = f.donneur(s, f"Ville {i}")
        m = f.market(s, d, reference=f"2022-{i}", start=dt.date(2022, 1, 1),
                     end=dt.date(2023, 6, 30), facilitator=fac)
        lt = f.lot(s, m, 1, hours=800)
        c = f.company(s, f"Entreprise {i}", facilitator=fac)
        markets.append(m)
        engagements.append(f.engagement(s, lt, c))
    ids = {}
    for last, birth, gender, qpv, commune, status, exit_, contracts in PEOPLE:
        p = f.participant(s, last, "Prénom", birth=birth, gender=gender, qpv=qpv, commune=commune,
                          status_at_entry=status, validated_by=fac, email=f"{last}@x.test",
                          phone="0611223344")
        for idx, start, end, hours in contracts:
            k = f.contract(s, p, engagements[idx], start=start, end=end)
            month = start.replace(day=1)
            declaration(s, k, month, hours)
        p.exit_situation = exit_
        p.exit_date = max(end for *_, end, _h in contracts) if exit_ else None
        p.last_activity_at = dt.datetime(2023, 4, 1, tzinfo=dt.UTC)
        doc = ctx.documents.store(s, pdf(f"bulletin-{last}"), kind="proof", participant_id=p.id)
        s.execute(select(Eligibility).where(Eligibility.participant_id == p.id)).scalar_one()\
            .proof_document_id = doc.id
        ids[last] = p.id
    s.flush()
    return ids, [m.donneur_id for m in markets], [m.id for m in markets]


def test_anonymisation_keeps_every_bilan_figure_and_removes_identity(ctx, rulebook):
    with ctx.db.session() as s:
        ids, donneurs, markets = _inactive_territory(ctx, s)
        before = _all_figures(s, rulebook, donneurs, markets)
        own_before = _own_aggregate(s)
        originals = {p.id: (p.birth_date, p.gender, p.qpv, p.commune, p.status_at_entry,
                            p.exit_situation, p.exit_date, p.first_entry_date)
                     for p in s.scalars(select(Participant))}
        starts = {}
        for pid, start in s.execute(select(Contract.participant_id, Contract.start_date)):
            starts.setdefault(pid, []).append(start)
        shas = list(s.scalars(select(Document.sha256)))

    # The data set is sensitive to the generalisation: keeping only the year (01/01) would
    # move people between age bands. Without this, "unchanged" would prove nothing.
    naive = [_age_band(dt.date(b.year, 1, 1), min(starts[pid])) for pid, (b, *_) in originals.items() if b]
    real = [_age_band(b, min(starts[pid])) for pid, (b, *_) in originals.items() if b]
    assert naive != real

    with ctx.db.session() as s:  # 16/06/2025: last activity 01/04/2023 is over 24 months ago
        report = run_purge(ctx, s, dry_run=False)
    assert sorted(report.inactive_participants) == sorted(ids.values())
    assert sorted(report.files_deleted) == sorted(set(shas))

    with ctx.db.session() as s:
        assert _all_figures(s, rulebook, donneurs, markets) == before
        assert _own_aggregate(s) == own_before
        for p in s.scalars(select(Participant)):
            birth, gender, qpv, commune, status, exit_, exit_date, entry = originals[p.id]
            assert p.last_name == ANONYMOUS_LAST_NAME and p.first_name == f"n° {p.id}"
            assert (p.email, p.phone, p.pool_consent_at) == (None, None, None)
            assert p.anonymised_at is not None
            assert (p.gender, p.qpv, p.commune, p.status_at_entry, p.exit_situation,
                    p.exit_date, p.first_entry_date) == (
                        gender, qpv, commune, status, exit_, exit_date, entry)
            if birth is None:
                assert p.birth_date is None
                continue
            assert p.birth_date.year == birth.year
            assert p.birth_date != birth  # the real birthday is gone
            for start in starts[p.id]:
                assert _age_band(p.birth_date, start) == _age_band(birth, start)
            assert "participant.anonymise" in audit_actions(s, p.id)
        assert s.scalar(select(func.count()).select_from(Document)) == 0
        assert all(e.proof_document_id is None for e in s.scalars(select(Eligibility)))
        assert s.scalar(select(func.count()).select_from(Eligibility)) == len(PEOPLE)
    for sha in shas:
        assert not file_of(ctx, sha).exists()
    with ctx.db.session() as s:
        assert run_purge(ctx, s, dry_run=False).total == 0


def test_running_contract_or_recent_candidature_blocks_anonymisation(ctx):
    with ctx.db.session() as s:
        fac = f.user(s, Role.FACILITATEUR)
        d = f.donneur(s)
        e = f.engagement(s, f.lot(s, f.market(s, d)), f.company(s))
        old = dt.datetime(2022, 1, 1, tzinfo=dt.UTC)
        running = f.participant(s, "Encours", "Ana", validated_by=fac, last_activity_at=old)
        f.contract(s, running, e, start=dt.date(2022, 1, 3), end=None)
        recent = f.participant(s, "Recent", "Bea", last_activity_at=old)
        candidature(s, recent, created_at=ctx.clock.now() - dt.timedelta(days=30))
        ended = f.participant(s, "Fini", "Cam", validated_by=fac, last_activity_at=old)
        f.contract(s, ended, e, start=dt.date(2022, 1, 3), end=dt.date(2022, 12, 31))
        late_end = f.participant(s, "Tardif", "Dan", validated_by=fac, last_activity_at=old)
        f.contract(s, late_end, e, start=dt.date(2022, 1, 3), end=dt.date(2024, 1, 31))
        ids = (running.id, recent.id, ended.id, late_end.id)
    with ctx.db.session() as s:
        report = run_purge(ctx, s, dry_run=False)
    assert report.inactive_participants == [ids[2]]
    with ctx.db.session() as s:
        assert s.get(Participant, ids[0]).last_name == "Encours"
        assert s.get(Participant, ids[3]).last_name == "Tardif"


# -- proofs, expired documents, raw e-mails --------------------------------------------------------------


def test_proofs_go_24_months_after_validation_and_the_criterion_stays(ctx):
    with ctx.db.session() as s:
        fac = f.user(s, Role.FACILITATEUR)
        t0 = ctx.clock.now()
        p = f.participant(s, "Preuve", "Ève")
        proof = ctx.documents.store(s, pdf("attestation"), kind="proof", participant_id=p.id)
        s.add(Eligibility(participant_id=p.id, criterion="rsa", proof_date=dt.date(2025, 6, 1),
                          validated_by_id=fac.id, validated_at=t0, proof_document_id=proof.id))
        stray = ctx.documents.store(s, pdf("jamais-validé"), kind="proof")
        stray.created_at = t0  # the store stamps the real time; the test clock is in the past
        candidature(s, p, status=CandidatureStatus.VALIDEE, decided_at=t0)
        ids, shas = (proof.id, stray.id), (proof.sha256, stray.sha256)
        pid = p.id
    # Keep the person active so only the proof rule applies.
    with ctx.db.session() as s:
        s.get(Participant, pid).last_activity_at = t0 + dt.timedelta(days=700)
    ctx.clock.set(months_before(t0, -24) - dt.timedelta(hours=1))
    with ctx.db.session() as s:
        assert run_purge(ctx, s, dry_run=False).proof_documents == []
    ctx.clock.set(months_before(t0, -24) + dt.timedelta(hours=1))
    with ctx.db.session() as s:
        report = run_purge(ctx, s, dry_run=False)
    assert report.proof_documents == sorted(ids)
    assert report.inactive_participants == []
    with ctx.db.session() as s:
        e = s.scalar(select(Eligibility))
        assert (e.criterion, e.validated_by_id is not None, e.proof_document_id) == ("rsa", True, None)
        assert s.scalar(select(func.count()).select_from(Document)) == 0
    assert not any(file_of(ctx, sha).exists() for sha in shas)


def test_a_file_shared_by_two_rows_stays_until_the_last_row_goes(ctx):
    with ctx.db.session() as s:
        same = pdf("même-contenu")
        first = ctx.documents.store(s, same, kind="proof")
        first.delete_after = dt.date(2025, 6, 1)
        second = ctx.documents.store(s, same, kind="cv")
        second.delete_after = dt.date(2025, 9, 1)
        sha = first.sha256
    with ctx.db.session() as s:
        report = run_purge(ctx, s, dry_run=False)
    assert report.expired_documents == [first.id]
    assert file_of(ctx, sha).exists()
    at(ctx, dt.date(2025, 9, 2))
    with ctx.db.session() as s:
        assert run_purge(ctx, s, dry_run=False).expired_documents == [second.id]
    assert not file_of(ctx, sha).exists()


def _mail(ctx, s, uid: int, moved: dt.datetime) -> InboundMail:
    raw = ctx.documents.store(s, f"From: a@b.test\r\nSubject: {uid}\r\n\r\nbonjour".encode(),
                              kind="raw_email", mime_type="message/rfc822")
    m = InboundMail(account="clauses@agence.test", folder="INBOX", uidvalidity=1, uid=uid,
                    from_address="a@b.test", subject=f"heures {uid}", raw_document_id=raw.id,
                    status=MailStatus.TRAITE, received_at=moved - dt.timedelta(minutes=5),
                    moved_at=moved)
    s.add(m)
    s.flush()
    return m


@pytest.mark.parametrize("days", [90, 10])
def test_raw_mails_are_purged_n_days_after_processing(ctx, days):
    ctx.policy = Policy(retention_raw_mail_days=days)
    with ctx.db.session() as s:
        now = ctx.clock.now()
        old = _mail(ctx, s, 1, now - dt.timedelta(days=days, hours=1))
        young = _mail(ctx, s, 2, now - dt.timedelta(days=days - 1))
        old_id, young_id = old.id, young.id
        old_sha = s.get(Document, old.raw_document_id).sha256
    with ctx.db.session() as s:
        report = run_purge(ctx, s, dry_run=False)
    assert report.raw_mails == [old_id]
    with ctx.db.session() as s:
        purged, kept = s.get(InboundMail, old_id), s.get(InboundMail, young_id)
        assert purged.raw_document_id is None and purged.purged_at is not None
        # the bookkeeping that prevents a second reading stays; what may quote a person goes
        assert (purged.from_address, purged.subject, purged.result, purged.status) == (
            "a@b.test", None, {}, MailStatus.TRAITE)
        assert kept.raw_document_id is not None and kept.purged_at is None
        assert kept.subject == "heures 2"
    assert not file_of(ctx, old_sha).exists()


def test_a_rolled_back_purge_keeps_rows_and_files(ctx):
    with ctx.db.session() as s:
        m = _mail(ctx, s, 7, ctx.clock.now() - dt.timedelta(days=200))
        sha = s.get(Document, m.raw_document_id).sha256
        mid = m.id
    with pytest.raises(RuntimeError), ctx.db.session() as s:
        assert run_purge(ctx, s, dry_run=False).raw_mails == [mid]
        raise RuntimeError("crash after the purge, before the commit")
    assert file_of(ctx, sha).exists()
    with ctx.db.session() as s:
        assert s.get(InboundMail, mid).raw_document_id is not None
    with ctx.db.session() as s:
        assert run_purge(ctx, s, dry_run=False).raw_mails == [mid]
    assert not file_of(ctx, sha).exists()


def test_dry_run_is_audited_and_the_purge_refuses_non_admins(ctx):
    with ctx.db.session() as s:
        run_purge(ctx, s, dry_run=True)
        assert audit_actions(s) == ["retention.dry_run"]
        from clauses.authz import NotAllowed

        fac = Actor(role=Role.FACILITATEUR, channel=Channel.TELEGRAM, label="fac")
        with pytest.raises(NotAllowed):
            run_purge(ctx, s, dry_run=True, actor=fac)


# -- the birth date generalisation, for any dates ----------------------------------------------------------

dates = st.dates(min_value=dt.date(1940, 1, 1), max_value=dt.date(2060, 12, 31))


@given(birth=dates, refs=st.lists(dates, max_size=6))
def test_generalised_birth_date_keeps_the_year_and_every_age_at_the_references(birth, refs):
    out = generalised_birth_date(birth, refs)
    assert out is not None and out.year == birth.year
    for ref in refs:
        real = ref.year - birth.year - ((ref.month, ref.day) < (birth.month, birth.day))
        kept = ref.year - out.year - ((ref.month, ref.day) < (out.month, out.day))
        assert kept == real
    if not refs:
        assert out == dt.date(birth.year, 1, 1)


def test_generalised_birth_date_edge_cases():
    assert generalised_birth_date(None, [dt.date(2024, 1, 1)]) is None
    # 29/02 in a leap reference year, birth year not leap: 01/03 of the birth year.
    assert generalised_birth_date(dt.date(1995, 7, 1), [dt.date(2024, 2, 29)]) == dt.date(1995, 3, 1)
    assert generalised_birth_date(dt.date(1996, 3, 1), [dt.date(2023, 2, 28)]) == dt.date(1996, 2, 29)
    assert generalised_birth_date(dt.date(1996, 3, 10), [dt.date(2022, 2, 1)]) == dt.date(1996, 2, 2)


def test_chat_bookkeeping_goes_after_its_retention_and_the_dry_run_counts_it(ctx):
    from storage.models import ChatUpdate, ConversationState

    now = ctx.clock.now()
    old, young = now - dt.timedelta(days=31), now - dt.timedelta(days=29)
    with ctx.db.session() as s:
        s.add_all([ChatUpdate(update_id=1, received_at=old), ChatUpdate(update_id=2, received_at=young)])
        s.add_all([
            ConversationState(conversation="candidat", chat_id=5, user_id=5, state="nom",
                              data={"name": "Dupont Marie"}, updated_at=old),
            ConversationState(conversation="declarer", chat_id=6, user_id=6, state="heures",
                              data={}, updated_at=young),
        ])
    with ctx.db.session() as s:
        dry = run_purge(ctx, s, dry_run=True)
    assert dry.counts()["chat_bookkeeping"] == 2
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(ChatUpdate)) == 2  # a dry run deletes nothing
        assert run_purge(ctx, s, dry_run=False).chat_bookkeeping == 2
    with ctx.db.session() as s:
        assert list(s.scalars(select(ChatUpdate.update_id))) == [2]
        assert [c.conversation for c in s.scalars(select(ConversationState))] == ["declarer"]
        assert run_purge(ctx, s, dry_run=False).chat_bookkeeping == 0  # twice does nothing
