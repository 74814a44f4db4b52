"""`clausebot contrat create|list|end|extend|retype|correct`: the facilitator's hire and the
contract's life from the command line.

The same domain use cases (:mod:`clauses.hiring`, :mod:`clauses.contract_life`) serve the chat's
``/embauche`` and the spreadsheet's « Embauches » sheet, so a refusal reads the same everywhere.
"""

from __future__ import annotations

from typing import Any

import click

from clausebot.cli_admin_common import admin_session, cli_actor, echo_table, require_company
from clauses.contract_life import (
    contracts_list,
    correct_contract,
    end_contract,
    extend_contract,
    retype_contract,
)
from clauses.formatting import fr_date, fr_number
from clauses.hiring import HireRequest, find_carrier, find_lot, read_date, record_hire
from storage.models import Channel


@click.group("contrat")
def contrat_group() -> None:
    """Contrats des participants : embauche, liste, fin anticipée, prolongation, type, correction.

    \b
    Exemple :
      clausebot contrat create --candidature 12 --marche 2025-017 --lot 2 --type cdd \\
        --debut 03/03/2025 --fin 31/08/2025 --poste "Maçon"
    """


@contrat_group.command("create")
@click.option("--candidature", "candidature_id", type=int, required=True,
              help="Numéro de la candidature validée.")
@click.option("--marche", required=True, help="Référence du marché, ex. 2025-017.")
@click.option("--lot", "lot_number", type=int, required=True, help="Numéro du lot.")
@click.option("--type", "contract_type", required=True,
              help="Type de contrat du règlement : cdi, cdd, interim, cddi, apprentissage…")
@click.option("--debut", required=True, help="Date de début JJ/MM/AAAA.")
@click.option("--fin", help="Date de fin prévue JJ/MM/AAAA (pas pour un CDI).")
@click.option("--entreprise", help="Entreprise qui embauche (nom exact ou SIRET), si la "
              "candidature n'en nomme pas et que plusieurs entreprises tiennent le lot.")
@click.option("--porteur", help="Structure qui porte le contrat (ETTI, AI, GEIQ, EI, ACI).")
@click.option("--poste", help="Intitulé du poste.")
@click.pass_obj
def contrat_create(state: Any, candidature_id: int, marche: str, lot_number: int,
                   contract_type: str, debut: str, fin: str | None, entreprise: str | None,
                   porteur: str | None, poste: str | None) -> None:
    """Enregistre l'embauche d'une candidature validée (la candidature passe « embauchée »).

    \b
    Exemples :
      clausebot contrat create --candidature 12 --marche 2025-017 --lot 2 --type cdi --debut 01/04/2025
      clausebot contrat create --candidature 14 --marche 2025-017 --lot 2 --type interim \\
        --debut 03/03/2025 --fin 30/05/2025 --porteur "Intérim Insertion Rhône"
    """
    with admin_session(state) as s:
        lot = find_lot(s, marche, lot_number)
        req = HireRequest(
            candidature_id=candidature_id, lot_id=lot.id, contract_type=contract_type,
            start=read_date(debut, "Date de début"),
            end=read_date(fin, "Date de fin") if fin else None,
            employer_id=find_carrier(s, porteur).id if porteur else None,
            job_title=poste, company_id=require_company(s, entreprise).id if entreprise else None,
        )
        outcome = record_hire(state.ctx, s, cli_actor(), req, source=Channel.CLI)
        click.echo(outcome.message_fr)


@contrat_group.command("list")
@click.option("--marche", help="Seulement les contrats de ce marché.")
@click.option("--entreprise", help="Seulement les contrats de cette entreprise (nom ou SIRET).")
@click.pass_obj
def contrat_list(state: Any, marche: str | None, entreprise: str | None) -> None:
    """Liste les contrats, les plus récents d'abord, avec les heures déclarées.

    \b
    Exemple :
      clausebot contrat list --marche 2025-017
    """
    with admin_session(state) as s:
        company_id = require_company(s, entreprise).id if entreprise else None
        lines = contracts_list(s, cli_actor(), market_reference=marche, company_id=company_id,
                               limit=500)
        types = state.ctx.rulebook.contract_types
        echo_table(
            ["N°", "Personne", "Type", "Début", "Fin", "Marché", "Lot", "Entreprise", "Porteur",
             "Heures", "Motif de fin"],
            [(c.contract_id, c.participant_name,
              types[c.contract_type].label_fr if c.contract_type in types else c.contract_type,
              fr_date(c.start), fr_date(c.end) if c.end else "—", c.market_reference,
              c.lot_number, c.company_name, c.employer_name, fr_number(c.declared_hours),
              c.end_reason or "")
             for c in lines],
            empty="Aucun contrat.")


@contrat_group.command("end")
@click.argument("numero", type=int)
@click.option("--date", "when", required=True, help="Dernier jour du contrat JJ/MM/AAAA.")
@click.option("--motif", required=True, help="Motif : démission, fin de chantier…")
@click.pass_obj
def contrat_end(state: Any, numero: int, when: str, motif: str) -> None:
    """Termine un contrat avant sa fin prévue (ou un CDI), avec le motif.

    \b
    Exemple :
      clausebot contrat end 7 --date 15/06/2025 --motif "démission"
    """
    with admin_session(state) as s:
        click.echo(end_contract(state.ctx, s, cli_actor(), numero, read_date(when, "Date"), motif))


@contrat_group.command("extend")
@click.argument("numero", type=int)
@click.option("--fin", required=True, help="Nouvelle date de fin JJ/MM/AAAA.")
@click.pass_obj
def contrat_extend(state: Any, numero: int, fin: str) -> None:
    """Prolonge un contrat (avenant ou renouvellement) jusqu'à une nouvelle date de fin.

    \b
    Exemple :
      clausebot contrat extend 7 --fin 31/12/2025
    """
    with admin_session(state) as s:
        click.echo(extend_contract(state.ctx, s, cli_actor(), numero, read_date(fin, "Date de fin")))


@contrat_group.command("retype")
@click.argument("numero", type=int)
@click.option("--type", "contract_type", required=True, help="Nouveau type (ex. cdi).")
@click.option("--fin", help="Date de fin si le nouveau type en a une et le contrat n'en a pas.")
@click.pass_obj
def contrat_retype(state: Any, numero: int, contract_type: str, fin: str | None) -> None:
    """Change le type d'un contrat, par exemple un CDD transformé en CDI.

    \b
    Exemple :
      clausebot contrat retype 7 --type cdi
    """
    with admin_session(state) as s:
        end = read_date(fin, "Date de fin") if fin else None
        click.echo(retype_contract(state.ctx, s, cli_actor(), numero, contract_type, end))


@contrat_group.command("correct")
@click.argument("numero", type=int)
@click.option("--debut", help="Date de début correcte JJ/MM/AAAA.")
@click.option("--fin", help="Date de fin correcte JJ/MM/AAAA.")
@click.pass_obj
def contrat_correct(state: Any, numero: int, debut: str | None, fin: str | None) -> None:
    """Corrige une date saisie par erreur (refusé si un mois déclaré sortirait du contrat).

    \b
    Exemple :
      clausebot contrat correct 7 --debut 10/03/2025
    """
    with admin_session(state) as s:
        click.echo(correct_contract(
            state.ctx, s, cli_actor(), numero,
            start=read_date(debut, "Date de début") if debut else None,
            end=read_date(fin, "Date de fin") if fin else None))


def register(main: click.Group) -> None:
    main.add_command(contrat_group)
