"""An agency from an EMPTY database, through the CLI only: its territory and registries are
loaded from examples/, then a prescriber's e-mailed candidature is recognised, a référent
with no chat account receives the annual bilan, the convention's renewal is reminded with the
clock moved, and `clausebot facturation` shows the fee milestones (seed art. 7)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import mailbox
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from clauses.context import Policy
from clauses.formatting import fr_money
from scheduler.jobs import run_job
from storage.models import (
    Alert,
    AlertKind,
    AuditEntry,
    Candidature,
    Contact,
    Convention,
    FeeMilestone,
    Market,
    MarketStatus,
    OutboxMessage,
    Prescriber,
    User,
)
from tests.cli.conftest import EXAMPLES
from tests.mail.conftest import PDF_BYTES, make_mail
from tests.queries import count_rows
from tests.scheduler.world import at

D = dt.date
REGISTRIES = str(EXAMPLES / "agence" / "registres.toml")


@pytest.fixture
def example_imported(cli) -> None:
    """The example territory (examples/import_exemple.csv) imported through the CLI."""
    assert cli("import", str(EXAMPLES / "import_exemple.csv")).exit_code == 0


def _load_agency(cli) -> None:
    imported = cli("import", str(EXAMPLES / "import_exemple.csv"))
    assert imported.exit_code == 0, imported.output
    loaded = cli("registres", "charger", REGISTRIES)
    assert loaded.exit_code == 0, loaded.output
    assert "7 entrée(s) ajoutée(s)" in loaded.output
    assert "+ prescripteur France Travail Oullins" in loaded.output


def test_registries_file_loads_once_and_a_prescribers_mail_is_recognised(cli, db, tmp_path: Path):
    _load_agency(cli)
    again = cli("registres", "charger", REGISTRIES)
    assert again.exit_code == 0 and "0 entrée(s) ajoutée(s)" in again.output
    assert count_rows(db, Convention) == 1 and count_rows(db, Prescriber) == 4

    invited = cli("invitation", "create", "--role", "prescripteur",
                  "--prescripteur", "France Travail Oullins")
    assert invited.exit_code == 0, invited.output
    assert "Invitation n° 1 (prescripteur, France Travail Oullins)" in invited.output

    # An adviser nobody registered by name writes from the organisation's accepted domain.
    inbox = tmp_path / "data" / "mail" / "incoming"
    inbox.parent.mkdir(parents=True, exist_ok=True)
    mailbox.Maildir(inbox, create=True).add(make_mail(
        "Claire Dupuis <claire.dupuis@francetravail.example>", "Candidature Léa MARTIN",
        "Bonjour,\n\nNom : Martin\nPrénom : Léa\nDate de naissance : 02/03/1999\nSexe : F\n"
        "Commune : Oullins\nCritères : RSA\nMarché : 2025-017\nLot : 1\n\nCordialement",
        attachments=[("CV.pdf", PDF_BYTES, "application/pdf")], to="clauses@agence.invalid"))
    # And a staff address of the Mission Locale, registered one by one.
    mailbox.Maildir(inbox).add(make_mail(
        "conseil@ml-sudouest.example", "Candidature Omar KADI",
        "Nom : Kadi\nPrénom : Omar\nDate de naissance : 11/11/2001\nCritères : DELD\n"
        "Marché : 2025-031\nLot : 1", to="clauses@agence.invalid"))
    relayed = cli("mail", "relever")
    assert relayed.exit_code == 0, relayed.output
    with db.session() as s:
        ft = s.scalar(select(Prescriber).where(Prescriber.name == "France Travail Oullins"))
        ml = s.scalar(select(Prescriber).where(Prescriber.name.like("Mission Locale%")))
        by_prescriber = dict(s.execute(select(Candidature.prescriber_id, func.count())
                                       .group_by(Candidature.prescriber_id)).all())
        assert by_prescriber == {ft.id: 1, ml.id: 1}
        replies = {m.to_address for m in s.scalars(select(OutboxMessage))}
        assert {"claire.dupuis@francetravail.example", "conseil@ml-sudouest.example"} <= replies
        unknown = s.scalar(select(func.count()).select_from(Alert)
                           .where(Alert.kind == AlertKind.EXPEDITEUR_INCONNU))
        assert unknown == 0

    # Deactivated, the organisation is no longer recognised nor invitable.
    assert cli("prescripteur", "desactiver", "France Travail Oullins").exit_code == 0
    refused = cli("invitation", "create", "--role", "prescripteur",
                  "--prescripteur", "France Travail Oullins")
    assert refused.exit_code == 1 and "est désactivé" in refused.output


def test_a_referent_without_chat_account_receives_the_annual_bilan(cli, ctx, clock, db,
                                                                   tmp_path: Path):
    _load_agency(cli)
    listed = cli("referent", "list")
    assert "juliette.rey@ville-oullins.example" in listed.output and " non" in listed.output
    assert count_rows(db, User) == 0  # nobody has an account: e-mail is the only channel
    point = cli("point", "--marche", "2025-031", "--format", "eml", "--out", str(tmp_path / "p1"))
    assert point.exit_code == 0, point.output
    [eml] = (tmp_path / "p1").glob("*.eml")
    to = next(ln for ln in eml.read_text(encoding="utf-8").splitlines() if ln.startswith("To:"))
    assert "juliette.rey@ville-oullins.example" in to and "marc.leroy@ville-oullins.example" in to
    ended = cli("referent", "terminer", "marc.leroy@ville-oullins.example")
    assert ended.exit_code == 0, ended.output
    cli("point", "--marche", "2025-031", "--format", "eml", "--out", str(tmp_path / "p2"))
    [eml] = (tmp_path / "p2").glob("*.eml")
    assert "marc.leroy" not in eml.read_text(encoding="utf-8")  # ended: the point goes without

    auto = dataclasses.replace(ctx, policy=Policy(annual_bilan_auto=True))
    clock.set(at(D(2026, 2, 2)))  # 31 January 2026 is a Saturday: the Monday after
    result = run_job(auto, "annual_bilans")
    assert result.errors == [] and result.done == 1
    with db.session() as s:
        mails = list(s.scalars(select(OutboxMessage)
                               .where(OutboxMessage.dedup_key.like("bilan_annuel:%"))))
    assert [m.to_address for m in mails] == ["juliette.rey@ville-oullins.example"]
    assert "2025" in mails[0].subject and "Ville d'Oullins" in mails[0].subject
    assert mails[0].attachments  # the workbook and the charts travel with it


def test_the_convention_near_its_end_triggers_the_renewal_reminder(cli, ctx, clock, db):
    _load_agency(cli)
    # CONV-OULLINS-2022: 25/07/2022 + 48 months -> last day 24/07/2026; notice 3 months ->
    # reminded from Friday 24/04/2026, not the day before.
    dry = cli("jobs", "run", "conventions", "--dry-run", "--date", "2026-04-23")
    assert "rien à envoyer" in dry.output
    dry = cli("jobs", "run", "conventions", "--dry-run", "--date", "2026-04-24")
    assert "alerte" in dry.output and "1 seraient traités" in dry.output
    clock.set(at(D(2026, 4, 24)))
    assert run_job(ctx, "conventions").done == 1
    assert run_job(ctx, "conventions").done == 0  # once
    with db.session() as s:
        alert = s.scalar(select(Alert).where(Alert.kind == AlertKind.CONVENTION))
    assert "CONV-OULLINS-2022" in alert.message and "24/07/2026" in alert.message
    # The day after its last day, nothing more; nor for a convention ended early.
    clock.set(at(D(2026, 7, 27)))
    assert run_job(ctx, "conventions").due == 0


def test_an_ended_convention_is_not_reminded(cli, ctx, clock):
    _load_agency(cli)
    assert cli("convention", "terminer", "CONV-OULLINS-2022", "--date", "30/04/2026").exit_code == 0
    clock.set(at(D(2026, 4, 24)))
    assert run_job(ctx, "conventions").due == 0


def test_facturation_shows_the_milestones_and_invoices_are_marked(cli, ctx, clock, db):
    _load_agency(cli)
    assert cli("facilitateur", "create", "--nom", "Fanny Martin",
               "--email", "fanny@agence.example").exit_code == 0
    assert cli("facturation").output.strip() == "Aucun jalon atteint."

    # A market whose clause starts later is « prévu » and reaches its milestone on its day.
    later = (dt.date.today() + dt.timedelta(days=40)).strftime("%d/%m/%Y")
    end = (dt.date.today() + dt.timedelta(days=400)).strftime("%d/%m/%Y")
    created = cli("marche", "create", "--donneur", "Ville d'Oullins", "--ref", "2027-002",
                  "--intitule", "Voirie", "--type", "clause_execution", "--debut", later,
                  "--fin", end, "--facilitateur", "fanny@agence.example")
    assert created.exit_code == 0, created.output
    with db.session() as s:
        assert s.scalar(select(Market.status).where(Market.reference == "2027-002")) \
            == MarketStatus.PREVU

    clock.set(at(D(2025, 6, 16)))
    first = run_job(ctx, "fee_milestones")
    assert first.done == 2  # 2025-017 (started 03/02) and 2025-031 (01/04); not 2025-044 (01/09)
    assert run_job(ctx, "fee_milestones").done == 0
    listing = cli("facturation")
    half = fr_money(Decimal(2000), ht=True)
    assert "Ville d'Oullins — convention CONV-OULLINS-2022" in listing.output
    assert listing.output.count("À FACTURER") == 2 and half in listing.output
    assert f"Reste à facturer : {fr_money(Decimal(4000), ht=True)}." in listing.output

    marked = cli("facturation", "marquer", "--marche", "2025-017", "--jalon", "demarrage",
                 "--date", "20/06/2025", "--facture", "F2025-031")
    assert marked.exit_code == 0, marked.output
    twice = cli("facturation", "marquer", "--marche", "2025-017", "--jalon", "demarrage",
                "--date", "21/06/2025")
    assert twice.exit_code == 1 and "déjà facturé (le 20/06/2025)" in twice.output
    early = cli("facturation", "marquer", "--marche", "2025-017", "--jalon", "bilan_final")
    assert early.exit_code == 1 and "pas encore atteint" in early.output

    closed = cli("marche", "clore", "2025-017", "--date", "15/07/2026")
    assert closed.exit_code == 0 and "Jalon « bilan final »" in closed.output
    again = cli("marche", "clore", "2025-017")
    assert again.exit_code == 1 and "déjà clos (le 15/07/2026)" in again.output
    listing = cli("facturation", "--a-facturer")
    assert "2025-017" in listing.output and "bilan final synthétique" in listing.output
    assert "F2025-031" not in listing.output  # invoiced lines left out with --a-facturer

    # The « prévu » market starts on its day; its facilitator is alerted with an outbox row.
    start = dt.date.today() + dt.timedelta(days=40)
    clock.set(at(start))
    assert run_job(ctx, "fee_milestones").done >= 1
    with db.session() as s:
        market = s.scalar(select(Market).where(Market.reference == "2027-002"))
        assert market.status == MarketStatus.EN_COURS
        milestone = s.scalar(select(FeeMilestone).where(FeeMilestone.market_id == market.id))
        assert milestone.reached_on == start and milestone.convention_id is None  # after 24/07/2026
        alert = s.scalar(select(Alert).where(Alert.kind == AlertKind.FACTURATION,
                                             Alert.subject_id == market.id))
        assert alert.facilitator_id == market.facilitator_id
        assert "aucune convention de Ville d'Oullins" in alert.message
        assert s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.to_address == "fanny@agence.example",
            OutboxMessage.dedup_key.like(f"alert:{alert.id}:%"))) == 1
        actions = set(s.scalars(select(AuditEntry.action)))
    assert {"convention.created", "prescriber.created", "referent.created", "market.closed",
            "fee.invoiced", "fee.milestone_reached"} <= actions


def test_bad_registry_input_is_answered_in_french_and_writes_nothing(cli, db):
    _load_agency(cli)
    before = {m.__tablename__: count_rows(db, m) for m in (Convention, Prescriber, Contact, AuditEntry)}
    cases = [
        (("convention", "create", "--donneur", "Ville d'Oulins", "--ref", "C2", "--debut",
          "01/09/2026"), "Vouliez-vous dire : « Ville d'Oullins » ?"),
        (("convention", "create", "--donneur", "Ville d'Oullins", "--ref", "C2", "--debut",
          "24/07/2026"), "Chevauchement : la convention CONV-OULLINS-2022"),
        (("convention", "create", "--donneur", "Ville d'Oullins", "--ref", "C2", "--debut",
          "31/02/2027"), "--debut : date inexistante"),
        (("convention", "create", "--donneur", "Ville d'Oullins", "--ref", "C2", "--debut",
          "25/07/2026", "--duree", "0"), "Durée de 0 mois refusée"),
        (("convention", "create", "--donneur", "Ville d'Oullins", "--ref",
          "CONV-OULLINS-2022", "--debut", "25/07/2026"), "existe déjà"),
        (("prescripteur", "create", "--nom", "France Travail Lyon 7", "--type",
          "france_travail", "--domaine", "FranceTravail.example"),
         "Le domaine francetravail.example est déjà celui de « France Travail Oullins »"),
        (("prescripteur", "create", "--nom", "Cap Emploi 69", "--type", "cap_emploi",
          "--domaine", "gmail.com"), "messagerie publique"),
        (("prescripteur", "create", "--nom", "Cap Emploi 69", "--type", "pole"),
         "Type de prescripteur inconnu « pole »"),
        (("prescripteur", "create", "--nom", "Cap Emploi 69", "--type", "cap_emploi",
          "--email", "rh@btp-rhone-confluent.example"),
         "est déjà celle du contact de l'entreprise BTP Rhône-Confluent"),
        (("referent", "create", "--donneur", "Ville d'Oullins", "--nom", "Sophie MARTIN",
          "--email", "RH@btp-rhone-confluent.example"),
         "est déjà celle du contact de l'entreprise BTP Rhône-Confluent"),
        (("referent", "create", "--donneur", "Ville d'Oullins", "--nom", "X",
          "--email", "pas-une-adresse"), "adresse e-mail invalide"),
        (("marche", "clore", "2025-999"), "Marché inconnu"),
        (("marche", "clore", "2025-044", "--date", "31/08/2025"),
         "commence le 01/09/2025"),
        (("facturation", "marquer", "--marche", "2025-031", "--jalon", "demarrage",
          "--date", "32/01/2026"), "--date : date inexistante"),
        (("engagement", "terminer", "--marche", "2025-017", "--lot", "9", "--entreprise",
          "BTP Rhône-Confluent"), "n'a pas d'engagement sur le lot 9"),
    ]
    for args, expected in cases:
        result = cli(*args)
        assert result.exit_code == 1, (args, result.output)
        assert result.output.startswith("Erreur : ") and expected in result.output, (args, result.output)
    after = {m.__tablename__: count_rows(db, m) for m in (Convention, Prescriber, Contact, AuditEntry)}
    assert after == before


def test_a_bad_registries_file_is_refused_whole(cli, example_imported, db, tmp_path: Path):
    bad = tmp_path / "registres.toml"
    bad.write_text(
        '[[prescripteur]]\nnom = "A"\ntype = "plie"\ndomaines = ["plie.example"]\n\n'
        '[[prescripteur]]\nnom = "B"\ntype = "plie"\ndomaines = ["plie.example"]\n\n'
        '[[convention]]\nreference = "C"\ndonneur = "Inconnue"\ndebut = "01/01/2025"\n\n'
        '[[convention]]\nreference = "D"\ndonneur = "Ville d\'Oullins"\ndebut = "01/01/2025"\n'
        'duree_mois = "quatre ans"\n\n'
        '[[referent]]\ndonneur = "Ville d\'Oullins"\nnom = "Sans adresse"\n',
        encoding="utf-8")
    result = cli("registres", "charger", str(bad))
    assert result.exit_code == 1
    assert "prescripteur n° 2 : Le domaine plie.example est déjà celui de « A »" in result.output
    assert "convention n° 1 : Donneur d'ordre inconnu" in result.output
    assert "convention n° 2 : duree_mois : nombre de mois attendu (ex. 48)" in result.output
    assert "referent n° 1 : champ « email » manquant" in result.output
    assert "4 entrée(s) refusée(s). Rien n'a été écrit" in result.output
    assert count_rows(db, Prescriber) == 0 and count_rows(db, Convention) == 0
    latin = tmp_path / "latin.toml"
    latin.write_bytes('[[referent]]\nnom = "Hélène"\n'.encode("cp1252"))
    unreadable = cli("registres", "charger", str(latin))
    assert unreadable.exit_code == 1 and "TOML en UTF-8 attendu" in unreadable.output


def test_deactivated_company_and_ended_engagement_are_no_longer_reminded(cli, example_imported,
                                                                          ctx, clock, db):
    from scheduler.jobs import run_job as run

    done = cli("entreprise", "desactiver", "Peintures du Pilat", "--date", "30/09/2025")
    assert done.exit_code == 0 and "1 engagement(s) terminé(s)" in done.output
    twice = cli("entreprise", "desactiver", "Peintures du Pilat")
    assert twice.exit_code == 1 and "déjà désactivée" in twice.output
    ended = cli("engagement", "terminer", "--marche", "2025-031", "--lot", "1", "--entreprise",
                "Paysages de la Saulaie", "--date", "31/10/2025")
    assert ended.exit_code == 0, ended.output
    edited = cli("engagement", "modifier", "--marche", "2025-017", "--lot", "2", "--entreprise",
                 "BTP Rhône-Confluent", "--heures", "700")
    assert edited.exit_code == 0 and "700" in edited.output
    clock.set(at(D(2026, 3, 16)))
    result = run(ctx, "lateness")
    assert result.errors == []
    with db.session() as s:
        late = " ".join(s.scalars(select(Alert.message)))
    # The others of the same market are judged as before (and the edited hours are used).
    assert "BTP Rhône-Confluent est en retard sur le marché 2025-017, lot 2 : 0 h réalisées " \
        "sur 700 h" in late
    assert "Peintures du Pilat" not in late and "Paysages de la Saulaie" not in late


def test_import_columns_add_referents_with_the_same_rules(cli, example_imported, db,
                                                          tmp_path: Path):
    good = tmp_path / "referents.csv"
    good.write_text(
        "donneur;referent;email_referent;fonction_referent\n"
        "Ville d'Oullins;Juliette REY;Juliette.Rey@ville-oullins.example;Achats\n"
        "Ville d'Oullins;Marc LEROY;marc.leroy@ville-oullins.example;\n", encoding="utf-8")
    first = cli("import", str(good))
    assert first.exit_code == 0, first.output
    again = cli("import", str(good))
    assert again.exit_code == 0
    listed = cli("referent", "list")
    assert "juliette.rey@ville-oullins.example" in listed.output and "Achats" in listed.output
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Contact).where(
            Contact.kind == "referent")) == 2  # imported twice, created once

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "donneur;siret;entreprise;email_entreprise;referent;email_referent\n"
        "Ville d'Oullins;;;;Sophie;rh@btp-rhone-confluent.example\n"
        "Ville d'Oullins;;;;Paul;\n"
        "Ville d'Oullins;44306184100047;Jardins;jardins@asso.example;Luc;jardins@asso.example\n",
        encoding="utf-8")
    before = count_rows(db, Contact)
    refused = cli("import", str(bad))
    assert refused.exit_code == 1
    assert "Ligne 2 [email_referent]" in refused.output and "du contact de l'entreprise BTP Rhône-Confluent" \
        in refused.output
    assert "Ligne 3 [email_referent]" in refused.output and "adresse du ou de la référent·e manquante" \
        in refused.output
    assert "Ligne 4 [email_referent]" in refused.output and "est aussi l'adresse de l'entreprise Jardins" \
        in refused.output
    assert count_rows(db, Contact) == before
