"""A catch-up's alerts reach the facilitator as ONE digest (issue 20), from an EMPTY database.

The example territory and a facilitator come from the CLI (`clausebot import`,
`facilitateur create`, `invitation create`); a second import brings the agency's recent
history: fourteen markets of Fanny's whose clause started within the month (each a billing
milestone to invoice: an alert) and three that started long ago (recorded, no alert). The
scheduler's catch-up (every daily job, as at start-up) runs; Fanny's console chat receives one
digest counting them (with the other alerts of the catch-up), not one message per alert;
`/alertes facturation` lists them with their buttons; a second catch-up sends nothing more. At
the threshold (10 alerts in a run) they still come one by one; at 11, as one digest.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from scheduler.jobs import run_daily, run_job
from storage.models import Alert, AlertKind, FeeMilestone, OutboxMessage
from tests.journeys.conftest import ACCOUNTS, Run, drain_chat

HEADER = ("donneur;type_donneur;marche_ref;marche_intitule;type_marche;procedure;"
          "montant_marche_ht;date_notification;date_debut;date_fin;facilitateur;lot_numero;"
          "lot_intitule;corps_etat;montant_lot_ht;heures_insertion;entreprise;siret;"
          "type_entreprise;email_entreprise;contact_entreprise;heures_engagement;moyen")
TODAY = dt.date(2025, 6, 16)  # the test clock


def _history(path: Path, starts: dict[str, dt.date], facilitator: str) -> Path:
    """An import file: one market per reference, started on its date, followed by
    ``facilitator``, with one lot and no company."""
    lines = [HEADER]
    for ref, start in starts.items():
        lines.append(f"Ville de Pierre-Bénite;ville;{ref};Travaux {ref};clause_execution;MAPA;"
                     f"300 000,00;{start - dt.timedelta(days=20):%d/%m/%Y};{start:%d/%m/%Y};"
                     f"31/12/2026;{facilitator};1;Gros œuvre;maconnerie;300 000,00;400;"
                     ";;;;;;")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _sign_in(ctx, code: str, account: int):
    from bot.console import ConsoleTransport
    from bot.core import ChatCore

    transport = ConsoleTransport(ChatCore(ctx))
    chat = transport.chat(account)
    assert "Bienvenue" in chat.send(code)[0].text
    return transport, chat


def test_a_catch_up_reaches_the_facilitator_as_one_digest(ctx, cli: Run, territory, tmp_path):
    recent = {f"2025-H{k:02d}": TODAY - dt.timedelta(days=k * 2) for k in range(14)}  # 16/06…20/05
    old = {f"2024-V{k}": dt.date(2024, 3, 4) for k in range(3)}
    made = cli("import", str(_history(tmp_path / "historique.csv", recent | old,
                                      "fanny@agence.test")))
    assert made.exit_code == 0, made.output
    transport, fanny = _sign_in(ctx, territory["facilitator"], ACCOUNTS["facilitator"])

    results = run_daily(ctx, describe=False)
    assert all(r.errors == [] for r in results), [r.errors for r in results]
    drain_chat(ctx, transport)
    pushed = [m for m in fanny.transcript if m.text.startswith("🔔")]
    # One digest of the 33 alerts the set-based jobs raised (the territory's companies late,
    # the launch meetings to plan, the billing milestones), and the annual bilan's approval,
    # raised alone with its button (a decision waiting, never folded).
    assert len(pushed) == 2, "\n=====\n".join(m.text for m in pushed)
    digest = pushed[0].text.splitlines()
    assert digest[:5] == ["🔔 33 nouvelles alertes, regroupées en un seul message :",
                          "• 14 × facturation — /alertes facturation",
                          "• 14 × réunion — /alertes reunion",
                          "• 5 × entreprise en retard — /alertes entreprise_en_retard",
                          "Les premières :"]
    assert all(" est en retard sur le marché 2025-0" in line for line in digest[5:10])
    assert "/alertes" in digest[-1] and pushed[0].buttons == []
    assert "bilan annuel 2024" in pushed[1].text and pushed[1].buttons
    with ctx.db.session() as s:
        # recorded one by one all the same: 17 milestones, an alert for each recent one
        assert s.scalar(select(func.count()).select_from(FeeMilestone)) >= 17
        billing = s.scalars(select(Alert).where(Alert.kind == AlertKind.FACTURATION)).all()
        assert len(billing) == 14 and {a.dedup_key for a in billing} == {
            f"honoraires:demarrage:market:{a.subject_id}" for a in billing}
        rows_after_first = s.scalar(select(func.count()).select_from(OutboxMessage))

    everything = fanny.send("/alertes")[-1]
    assert everything.text.splitlines()[0] == (
        "34 alerte(s) à traiter (14 facturation, 14 reunion, 5 entreprise_en_retard, "
        "1 bilan_annuel), les 15 plus récentes :")
    listed = fanny.send("/alertes facturation")[-1]
    assert listed.text.splitlines()[0] == "14 alerte(s) « facturation » à traiter :"
    assert sum("Facturation : le jalon" in line for line in listed.text.splitlines()) == 14
    assert len(listed.buttons) == 14  # « Traitée » for each, from the list
    wrong = fanny.send("/alertes facturaton")[-1].text
    assert "Type d'alerte inconnu : « facturaton »" in wrong and "facturation" in wrong
    vague = fanny.send("/alertes bilan")[-1].text
    assert "désigne plusieurs types" in vague and "bilan_final" in vague

    # A second catch-up (a restart the same day): nothing more is queued nor pushed.
    before = len(fanny.transcript)
    assert sum(r.done for r in run_daily(ctx, describe=False)) == 0
    drain_chat(ctx, transport)
    assert len(fanny.transcript) == before
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == rows_after_first


@pytest.mark.parametrize("markets", [10, 11])
def test_the_threshold_through_the_chat(ctx, cli: Run, territory, tmp_path, markets: int):
    """One run of the fee job: 10 alerts (the threshold) come one by one, each with its
    button; 11 come as one digest."""
    recent = {f"2025-H{k:02d}": TODAY - dt.timedelta(days=k) for k in range(markets)}
    assert cli("import", str(_history(tmp_path / "h.csv", recent, "fanny@agence.test"))
               ).exit_code == 0
    transport, fanny = _sign_in(ctx, territory["facilitator"], ACCOUNTS["facilitator"])
    assert run_job(ctx, "fee_milestones").done >= markets
    drain_chat(ctx, transport)
    pushed = [m for m in fanny.transcript if m.text.startswith("🔔")]
    if markets == 10:
        assert len(pushed) == 10 and all("Facturation : le jalon" in m.text for m in pushed)
        assert all(m.buttons for m in pushed)
    else:
        assert [m.text.splitlines()[:2] for m in pushed] == [[
            "🔔 11 nouvelles alertes, regroupées en un seul message :",
            "• 11 × facturation — /alertes facturation"]]
