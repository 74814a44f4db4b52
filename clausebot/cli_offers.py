"""`clausebot offre create|list|approve|candidatures|preselection|close`: job offers.

The same use cases as the chat's /offre and /offres (:mod:`clauses.job_offers`), so an offer on
a lot the company does not hold, or a pre-selection of a person not validated, is refused here
with the same French message and nothing written.
"""

from __future__ import annotations

from typing import Any

import click

from clausebot.cli_admin_common import admin_session, cli_actor, echo_table
from clauses import job_offers as jo


def _offer_id(text: str) -> int:
    found = jo.quoted_offer_id(text) if not text.strip().isdigit() else int(text)
    if found is None:
        raise click.BadParameter(f"référence d'offre « {text} » illisible : écrivez OFF-12 ou 12.")
    return found


@click.group("offre")
def offre_group() -> None:
    """Offres d'emploi : création, validation et diffusion aux partenaires, présélection.

    \b
    Exemple :
      clausebot offre create --entreprise "BTP Rhône-Confluent" --marche 2025-017 --lot 2 \\
        --intitule "Maçon coffreur" --lieu Oullins --debut 01/09/2025 --duree 6 --heures 35
      clausebot offre approve OFF-1
    """


@offre_group.command("create")
@click.option("--entreprise", required=True, help="Nom exact de l'entreprise qui recrute.")
@click.option("--marche", required=True, help="Référence du marché.")
@click.option("--lot", required=True, help="Numéro du lot tenu par l'entreprise.")
@click.option("--intitule", required=True, help="Intitulé du poste.")
@click.option("--lieu", required=True, help="Lieu de travail.")
@click.option("--debut", required=True, help="Date de début JJ/MM/AAAA.")
@click.option("--duree", required=True, help="Durée en mois.")
@click.option("--heures", required=True, help="Heures par semaine.")
@click.option("--postes", default="1", show_default=True, help="Nombre de postes.")
@click.pass_obj
def offre_create(state: Any, entreprise: str, marche: str, lot: str, intitule: str, lieu: str,
                 debut: str, duree: str, heures: str, postes: str) -> None:
    """Enregistre une offre (à valider avant diffusion)."""
    with admin_session(state) as s:
        data = jo.read_offer(marche, lot, intitule, lieu, debut, duree, heures, postes)
        offer = jo.create_offer(state.ctx, s, cli_actor(), data, company=entreprise)
        click.echo(f"Offre enregistrée : {jo.reference(offer.id)} « {offer.title} » (à valider : "
                   f"clausebot offre approve {jo.reference(offer.id)}).")


@offre_group.command("list")
@click.pass_obj
def offre_list(state: Any) -> None:
    """Les offres, leur statut et leurs candidatures."""
    with admin_session(state) as s:
        rows = jo.list_offers(s, cli_actor())
        echo_table(["offre", "statut", "diffusée", "candidatures", "validées"], [
            [r.description, r.status.value, "oui" if r.approved else "non", r.applications, r.validated]
            for r in rows], empty="Aucune offre.")


@offre_group.command("approve")
@click.argument("offre")
@click.pass_obj
def offre_approve(state: Any, offre: str) -> None:
    """Valide l'offre et l'envoie par e-mail aux partenaires (prescripteurs actifs)."""
    with admin_session(state) as s:
        offer, count = jo.approve_offer(state.ctx, s, cli_actor(), _offer_id(offre))
        click.echo(f"Offre {jo.reference(offer.id)} validée et envoyée à {count} adresse(s).")


@offre_group.command("candidatures")
@click.argument("offre")
@click.pass_obj
def offre_candidatures(state: Any, offre: str) -> None:
    """Les candidatures qui citent l'offre."""
    with admin_session(state) as s:
        rows = jo.offer_applications(s, cli_actor(), _offer_id(offre))
        echo_table(["n°", "personne", "statut", "retenu·e"], [
            [r.candidature_id, r.person, r.status.value, "oui" if r.chosen else ""] for r in rows],
            empty="Aucune candidature.")


@offre_group.command("preselection")
@click.argument("offre")
@click.argument("candidatures", nargs=-1, type=int)
@click.pass_obj
def offre_preselection(state: Any, offre: str, candidatures: tuple[int, ...]) -> None:
    """Envoie à l'entreprise (chat) les candidatures validées (toutes, ou les numéros donnés)."""
    with admin_session(state) as s:
        sent = jo.send_preselection(state.ctx, s, cli_actor(), _offer_id(offre), list(candidatures))
        click.echo(f"Présélection envoyée : candidatures {', '.join(map(str, sent))}.")


@offre_group.command("close")
@click.argument("offre")
@click.pass_obj
def offre_close(state: Any, offre: str) -> None:
    """Ferme l'offre ; les prescripteurs des candidats en attente sont prévenus."""
    with admin_session(state) as s:
        offer = jo.close_offer(state.ctx, s, cli_actor(), _offer_id(offre))
        click.echo(f"Offre {jo.reference(offer.id)} fermée.")


def register(main: click.Group) -> None:
    main.add_command(offre_group)
