"""The digest rule of the set-based alert writer (:mod:`clauses.alert_digest`): up to the
threshold, one push per alert as before; past it, one digest message per person; the alerts
are recorded one by one either way. Unit tests of the rule (factories); the journey that
reaches it from an empty database is tests/journeys/test_catch_up_digest.py."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update

from clauses import alert_digest
from clauses.alert_digest import TALLY, parse_kind
from clauses.alerts import AlertSpec, raise_alerts
from storage.models import Alert, AlertKind, ChatLink, OutboxMessage, OutboxStatus, User
from tests import factories as f

N = 10


@pytest.fixture(autouse=True)
def threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alert_digest, "_threshold", N)


def _linked(s, name: str, chat_id: int) -> User:
    user = f.user(s, display_name=name, email=f"{name.lower()}@agence.test")
    s.add(ChatLink(user_id=user.id, chat_id=chat_id))
    s.flush()
    return user


def _specs(user: User, tag: str, n: int, kind: AlertKind = AlertKind.FACTURATION) -> list[AlertSpec]:
    return [AlertSpec(kind=kind, facilitator_id=user.id, dedup_key=f"{tag}:{k}",
                      message=f"Alerte {tag} n° {k}\nsuite") for k in range(n)]


def _outbox(s, user: User) -> list[OutboxMessage]:
    return list(s.scalars(select(OutboxMessage).where(OutboxMessage.to_user_id == user.id)
                          .order_by(OutboxMessage.id)))


def test_n_alerts_go_one_by_one_and_n_plus_one_as_one_digest(db) -> None:
    with db.session() as s:
        # Chat ids equal to the other's user id would hide a swapped lookup.
        ten = _linked(s, "Dix", chat_id=0)
        eleven = _linked(s, "Onze", chat_id=0)
        s.execute(update(ChatLink).where(ChatLink.user_id == ten.id).values(chat_id=eleven.id))
        s.execute(update(ChatLink).where(ChatLink.user_id == eleven.id).values(chat_id=ten.id))
        made = raise_alerts(s, _specs(ten, "a", N) + _specs(eleven, "b", 7)
                            + _specs(eleven, "c", 4, AlertKind.ENTREPRISE_EN_RETARD))
        assert len(made) == N + N + 1
        assert s.scalar(select(Alert.id).where(Alert.dedup_key == "c:3")) is not None
        singles = _outbox(s, ten)
        assert len(singles) == N and all(r.dedup_key.startswith("alert:") for r in singles)
        assert {r.to_chat_id for r in singles} == {eleven.id}
        assert singles[0].body_text == "🔔 Alerte a n° 0\nsuite"
        [digest] = _outbox(s, eleven)
        assert digest.to_chat_id == ten.id and digest.reply_markup is None
        assert digest.dedup_key.startswith(f"digest:user:{eleven.id}:alert:")
        lines = digest.body_text.splitlines()
        assert lines[:3] == ["🔔 11 nouvelles alertes, regroupées en un seul message :",
                             "• 7 × facturation — /alertes facturation",
                             "• 4 × entreprise en retard — /alertes entreprise_en_retard"]
        assert lines[3:9] == ["Les premières :"] + [f"– Alerte b n° {k}" for k in range(5)]
        assert "/alertes" in lines[-1]
        # Recorded again: nothing new, no second digest.
        assert raise_alerts(s, _specs(eleven, "b", 7)) == []
        assert len(_outbox(s, eleven)) == 1


def test_a_later_write_adds_to_the_digest_still_waiting(db) -> None:
    with db.session() as s:
        fanny = _linked(s, "Fanny", chat_id=-5)
        raise_alerts(s, _specs(fanny, "a", N + 1))
        raise_alerts(s, _specs(fanny, "b", 2, AlertKind.REUNION))  # the next chunk
        [digest] = _outbox(s, fanny)
        assert digest.body_text.startswith("🔔 13 nouvelles alertes")
        assert "• 2 × réunion — /alertes reunion" in digest.body_text
        assert digest.headers[TALLY]["kinds"] == {"facturation": 11, "reunion": 2}
        # the first five quoted again, read from the alerts: the row keeps ids, no text (an
        # erasure blanks the text and scrubs the alerts; nothing else holds a name)
        assert [line for line in digest.body_text.splitlines() if line.startswith("– ")] == [
            f"– Alerte a n° {k}" for k in range(5)]
        assert "Alerte" not in json.dumps(digest.headers)
        # Once sent, a small burst goes one by one again; a big one makes a new digest.
        s.execute(update(OutboxMessage).values(status=OutboxStatus.SENT))
        raise_alerts(s, _specs(fanny, "c", 2))
        assert [r.dedup_key.split(":")[0] for r in _outbox(s, fanny)] == ["digest", "alert", "alert"]
        # 2 waiting + 9 = 11: a digest of the 11, the 2 pushes not delivered yet taken back
        raise_alerts(s, _specs(fanny, "d", N - 1))
        rows = _outbox(s, fanny)
        assert [r.dedup_key.split(":")[0] for r in rows] == ["digest", "digest"]
        assert rows[-1].body_text.startswith("🔔 11 nouvelles alertes")
        assert "– Alerte c n° 0" in rows[-1].body_text.splitlines()[3]
        assert s.scalar(select(Alert.id).where(Alert.dedup_key == "c:1")) is not None


def test_a_digest_claimed_by_the_sender_is_not_rewritten(db) -> None:
    with db.session() as s:
        fanny = _linked(s, "Fanny", chat_id=-5)
        raise_alerts(s, _specs(fanny, "a", N + 1))
        s.execute(update(OutboxMessage).values(status=OutboxStatus.SENDING))
        raise_alerts(s, _specs(fanny, "b", 1))  # no digest waiting, 1 alert: pushed alone
        first, single = _outbox(s, fanny)
        assert first.body_text.startswith("🔔 11 nouvelles") and single.dedup_key.startswith("alert:")


def test_pushes_claimed_by_the_sender_stay_out_of_the_digest(db) -> None:
    """Ten single pushes waiting, the sender took three: seven waiting and four new make a
    digest of eleven; the three go out alone."""
    with db.session() as s:
        fanny = _linked(s, "Fanny", chat_id=-5)
        raise_alerts(s, _specs(fanny, "a", N))
        claimed = [r.id for r in _outbox(s, fanny)][:3]
        s.execute(update(OutboxMessage).where(OutboxMessage.id.in_(claimed))
                  .values(status=OutboxStatus.SENDING))
        raise_alerts(s, _specs(fanny, "b", 4))
        rows = _outbox(s, fanny)
        assert [r.id for r in rows[:3]] == claimed
        assert rows[3].dedup_key.startswith("digest:") and len(rows) == 4
        assert rows[3].body_text.startswith("🔔 11 nouvelles alertes")
        assert "– Alerte a n° 3" in rows[3].body_text


def test_without_chat_the_digest_is_one_email(db) -> None:
    with db.session() as s:
        mail_only = f.user(s, display_name="Marc", email="marc@agence.test")
        raise_alerts(s, _specs(mail_only, "w", 1))  # a single e-mail waiting: taken back
        assert [r.dedup_key.split(":")[0] for r in s.scalars(select(OutboxMessage))] == ["alert"]
        raise_alerts(s, _specs(mail_only, "a", N + 1))
        raise_alerts(s, _specs(mail_only, "b", 1))
        [digest] = list(s.scalars(select(OutboxMessage)))
        assert (digest.to_address, digest.subject) == (
            "marc@agence.test", "[clausebot] 13 nouvelles alertes à traiter")
        assert digest.to_chat_id is None and "13 × facturation" in digest.body_text


def test_threshold_zero_turns_digests_off(db, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alert_digest, "_threshold", 0)
    with db.session() as s:
        fanny = _linked(s, "Fanny", chat_id=-5)
        raise_alerts(s, _specs(fanny, "a", 30))
        assert len(_outbox(s, fanny)) == 30


def test_kind_words() -> None:
    assert parse_kind("facturation") == [AlertKind.FACTURATION]
    assert parse_kind("Entreprise en retard") == [AlertKind.ENTREPRISE_EN_RETARD]
    assert parse_kind("RETARD") == [AlertKind.ENTREPRISE_EN_RETARD]
    assert parse_kind("réunion") == [AlertKind.REUNION]
    assert parse_kind("bilan_final") == [AlertKind.BILAN_FINAL]
    assert set(parse_kind("bilan")) == {AlertKind.BILAN_FINAL, AlertKind.BILAN_ANNUEL}
    assert parse_kind("xyz") == [] and parse_kind("  ") == []


def test_a_crash_keeps_neither_the_alerts_nor_their_digest(db) -> None:
    """The digest row commits with the alerts it counts: a crash mid-write loses both, the
    re-run writes both once."""
    with db.session() as s:
        fanny = _linked(s, "Fanny", chat_id=-5)
    with pytest.raises(RuntimeError), db.session() as s:
        raise_alerts(s, _specs(fanny, "a", N + 1))
        raise RuntimeError("the process dies before the commit")
    with db.session() as s:
        assert s.scalars(select(Alert)).all() == [] and _outbox(s, fanny) == []
        raise_alerts(s, _specs(fanny, "a", N + 1))
    with db.session() as s:
        assert raise_alerts(s, _specs(fanny, "a", N + 1)) == []  # the next run: nothing new
        [digest] = _outbox(s, fanny)
        assert digest.body_text.startswith("🔔 11 nouvelles alertes")


def test_an_erasure_withdraws_the_digest_that_quotes_the_person(db) -> None:
    """A digest quotes its first alerts' lines; one may name a person (an interactive alert
    still waiting, taken into the digest). Erasing that person withdraws the digest too."""
    from clauses.alerts import raise_alert
    from clauses.rgpd.message_scrub import quoting_messages, scrub_messages

    with db.session() as s:
        fanny = _linked(s, "Fanny", chat_id=-9)
        marie = f.participant(s, "Dupont", "Marie")
        raise_alert(s, kind=AlertKind.AUTRE, facilitator_id=fanny.id, subject_type="participant",
                    subject_id=marie.id, message="DUPONT Marie : pièce justificative à revoir")
        raise_alerts(s, _specs(fanny, "a", N))  # 1 waiting + 10: one digest takes them all
        [digest] = _outbox(s, fanny)
        assert digest.dedup_key.startswith("digest:") and "DUPONT Marie" in digest.body_text
        assert digest.id in quoting_messages(s, [marie.id])[1]
        scrub_messages(s, [marie.id])
        s.refresh(digest)
        assert "DUPONT" not in (digest.body_text or "") and digest.status == OutboxStatus.DEAD
        # a digest that does not quote her is left alone
        other = _linked(s, "Paul", chat_id=-10)
        raise_alerts(s, _specs(other, "b", N + 1))
        assert [r.status for r in _outbox(s, other)] == [OutboxStatus.PENDING]
        assert quoting_messages(s, [marie.id])[1] == [digest.id]


def test_a_push_taken_back_leaves_the_session_it_was_queued_in(db) -> None:
    """An interactive push queued, then a burst in the same session: the session sees the
    digest, not the deleted push (on SQLite the digest reuses the deleted row's id)."""
    from clauses.alerts import raise_alert

    with db.session() as s:
        fanny = _linked(s, "Fanny", chat_id=-9)
        raise_alert(s, kind=AlertKind.AUTRE, facilitator_id=fanny.id, message="À revoir")
        raise_alerts(s, _specs(fanny, "a", N))  # 1 waiting + 10
        [digest] = _outbox(s, fanny)
        assert digest.dedup_key.startswith("digest:") and "11 nouvelles alertes" in digest.body_text


def test_an_e_mail_only_persons_waiting_alert_is_taken_into_the_digest(db) -> None:
    """Without a chat, alerts go by e-mail; an interactive one still waiting counts too."""
    from clauses.alerts import raise_alert

    with db.session() as s:
        paul = f.user(s, display_name="Paul", email="paul@agence.test")
        raise_alert(s, kind=AlertKind.AUTRE, facilitator_id=paul.id, message="À revoir")
        raise_alerts(s, _specs(paul, "a", N))  # 1 waiting + 10: more than the threshold
        [digest] = _outbox(s, paul)
        assert digest.dedup_key.startswith("digest:") and digest.to_address == "paul@agence.test"
        assert digest.headers[TALLY]["total"] == N + 1
