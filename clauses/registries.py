"""The registries an agency keeps: conventions, prescriber organisations, buyers' référents,
and the end of companies and engagements.

Every channel (the CLI today) calls these use cases, so a rule holds wherever the data come
from. Nothing here deletes: a row that history refers to is *ended* (a date, or ``active``
turned off) and stays readable; every change is audited in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clauses import audit
from clauses.actors import Actor
from clauses.authz import Action, authorize
from clauses.bilan.lookup import find_donneur
from clauses.catalog import PRESCRIBER_KIND_FR
from clauses.counting import add_months
from clauses.errors import DomainError
from clauses.formatting import fold, fr_date
from storage.models import (
    Company,
    Contact,
    ContactKind,
    Convention,
    Donneur,
    Engagement,
    EngagementMeans,
    Prescriber,
    PrescriberDomain,
    PrescriberKind,
    Role,
    User,
)

DEFAULT_DURATION_MONTHS = 48
"""Seed convention: four years."""
DEFAULT_NOTICE_MONTHS = 3
DEFAULT_FEE_START_SHARE = Decimal("0.50")
"""Seed art. 7: 50 % at the start of the clause, 50 % at the final bilan."""

PUBLIC_MAIL_DOMAINS = frozenset({
    "gmail.com", "hotmail.fr", "hotmail.com", "outlook.fr", "outlook.com", "live.fr",
    "yahoo.fr", "yahoo.com", "orange.fr", "wanadoo.fr", "free.fr", "sfr.fr", "laposte.net",
    "icloud.com", "gmx.fr", "protonmail.com", "proton.me",
})
"""Anybody can write from these: accepting one as a prescriber's domain would let anyone
send candidatures in its name."""

_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}$")


class RegistryError(DomainError):
    """A registry change refused; the French message says what to fix."""

    code = "registry_refused"


# --- conventions ------------------------------------------------------------------------------


def convention_last_day(conv: Convention) -> dt.date:
    """Last day a convention is in force: its term, or the day it was ended early."""
    term = add_months(conv.start_date, conv.duration_months) - dt.timedelta(days=1)
    return min(term, conv.ended_on) if conv.ended_on is not None else term


def _check_terms(duration: int, notice: int, fee: Decimal | None, share: Decimal) -> None:
    if not 1 <= duration <= 120:
        raise RegistryError(f"Durée de {duration} mois refusée : entre 1 et 120 mois "
                            "(48 mois dans la convention type).")
    if not 0 <= notice < duration:
        raise RegistryError(f"Préavis de {notice} mois refusé : entre 0 et la durée de la "
                            f"convention ({duration} mois) exclue.")
    if fee is not None and fee < 0:
        raise RegistryError("Le montant de la participation ne peut pas être négatif.")
    if not Decimal(0) <= share <= Decimal(1):
        raise RegistryError("La part facturée au démarrage doit être comprise entre 0 et "
                            "100 % (50 % dans la convention type).")
    if share != share.quantize(Decimal("0.01")):
        raise RegistryError(f"Part au démarrage {share * 100:f} % refusée : donnez-la au pour "
                            "cent près (ex. 50 %, 30 %).")


def _check_overlap(session: Session, conv: Convention) -> None:
    """One convention in force at a time per donneur: a fee milestone must know its terms."""
    first, last = conv.start_date, convention_last_day(conv)
    for other in session.scalars(select(Convention).where(
            Convention.donneur_id == conv.donneur_id, Convention.id != conv.id)):
        if other.start_date <= last and first <= convention_last_day(other):
            raise RegistryError(
                f"Chevauchement : la convention {other.reference} de ce donneur d'ordre court "
                f"du {fr_date(other.start_date)} au {fr_date(convention_last_day(other))}. "
                "Faites commencer la nouvelle après sa fin, ou terminez l'ancienne d'abord "
                "(« clausebot convention terminer »).")


def find_convention(session: Session, reference: str) -> Convention:
    conv = session.scalar(select(Convention).where(
        func.lower(Convention.reference) == reference.strip().lower()))
    if conv is None:
        refs = list(session.scalars(select(Convention.reference).order_by(Convention.reference)))
        known = f" Conventions connues : {', '.join(refs[:10])}." if refs else ""
        raise RegistryError(f"Convention inconnue « {reference} ».{known}")
    return conv


def convention_exists(session: Session, reference: str) -> bool:
    return session.scalar(select(Convention.id).where(
        func.lower(Convention.reference) == reference.strip().lower())) is not None


def create_convention(
    session: Session, actor: Actor, *, donneur: str, reference: str, start: dt.date,
    duration_months: int = DEFAULT_DURATION_MONTHS, notice_months: int = DEFAULT_NOTICE_MONTHS,
    fee_amount: Decimal | None = None, fee_start_share: Decimal = DEFAULT_FEE_START_SHARE,
) -> Convention:
    """A partnership convention; the renewal reminder and the fee milestones read it."""
    authorize(session, actor, Action.ADMIN_WRITE)
    owner = find_donneur(session, donneur)
    reference = reference.strip()
    if not reference or len(reference) > 60:
        raise RegistryError("Référence de convention vide ou trop longue (60 caractères).")
    if session.scalar(select(Convention.id).where(
            func.lower(Convention.reference) == reference.lower())) is not None:
        raise RegistryError(f"La convention {reference} existe déjà (voir « clausebot "
                            "convention list »).")
    _check_terms(duration_months, notice_months, fee_amount, fee_start_share)
    conv = Convention(donneur_id=owner.id, reference=reference, start_date=start,
                      duration_months=duration_months, notice_months=notice_months,
                      fee_amount=fee_amount, fee_start_share=fee_start_share)
    with session.begin_nested():  # a refused overlap leaves nothing behind
        session.add(conv)
        session.flush()
        _check_overlap(session, conv)
    audit.record(session, actor, "convention.created", "convention", conv.id,
                 reference=reference, donneur_id=owner.id, start=start.isoformat(),
                 duration_months=duration_months, notice_months=notice_months,
                 fee_amount=str(fee_amount) if fee_amount is not None else None,
                 fee_start_share=str(fee_start_share))
    return conv


def edit_convention(
    session: Session, actor: Actor, reference: str, *, start: dt.date | None = None,
    duration_months: int | None = None, notice_months: int | None = None,
    fee_amount: Decimal | None = None, fee_start_share: Decimal | None = None,
) -> Convention:
    """Change the terms (an avenant); what is not given stays. Fee milestones already reached
    keep the amount they were reached with."""
    authorize(session, actor, Action.ADMIN_WRITE)
    conv = find_convention(session, reference)
    changes = {k: v for k, v in {
        "start_date": start, "duration_months": duration_months, "notice_months": notice_months,
        "fee_amount": fee_amount, "fee_start_share": fee_start_share}.items() if v is not None}
    if not changes:
        raise RegistryError("Rien à modifier : donnez au moins une option (--debut, --duree, "
                            "--preavis, --montant, --part-demarrage).")
    before = {k: getattr(conv, k) for k in changes}
    with session.begin_nested():  # refused terms or an overlap leave the convention as it was
        for key, value in changes.items():
            setattr(conv, key, value)
        _check_terms(conv.duration_months, conv.notice_months, conv.fee_amount,
                     conv.fee_start_share)
        session.flush()
        _check_overlap(session, conv)
    audit.record(session, actor, "convention.edited", "convention", conv.id,
                 before={k: str(v) for k, v in before.items()},
                 after={k: str(v) for k, v in changes.items()})
    return conv


def end_convention(session: Session, actor: Actor, reference: str, on: dt.date) -> Convention:
    """End a convention on ``on`` (not renewed, terminated): no renewal reminder after that."""
    authorize(session, actor, Action.ADMIN_WRITE)
    conv = find_convention(session, reference)
    if conv.ended_on is not None:
        raise RegistryError(f"La convention {conv.reference} est déjà terminée (le "
                            f"{fr_date(conv.ended_on)}).")
    term = convention_last_day(conv)
    if not conv.start_date <= on <= term:
        raise RegistryError(f"Date de fin {fr_date(on)} hors de la convention (du "
                            f"{fr_date(conv.start_date)} au {fr_date(term)}).")
    conv.ended_on = on
    audit.record(session, actor, "convention.ended", "convention", conv.id, on=on.isoformat())
    return conv


@dataclass(frozen=True)
class ConventionRow:
    reference: str
    donneur: str
    start: dt.date
    last_day: dt.date
    notice_months: int
    fee_amount: Decimal | None
    fee_start_share: Decimal
    ended: bool


def list_conventions(session: Session, actor: Actor, donneur: str | None = None) -> list[ConventionRow]:
    authorize(session, actor, Action.ADMIN_WRITE)
    q = select(Convention, Donneur.name).join(Donneur, Donneur.id == Convention.donneur_id)
    if donneur:
        q = q.where(Convention.donneur_id == find_donneur(session, donneur).id)
    return [ConventionRow(c.reference, name, c.start_date, convention_last_day(c), c.notice_months,
                          c.fee_amount, c.fee_start_share, c.ended_on is not None)
            for c, name in session.execute(q.order_by(Donneur.name, Convention.start_date))]


def convention_in_force(session: Session, donneur_id: int, on: dt.date) -> Convention | None:
    """The donneur's convention covering ``on`` (overlaps are refused, so at most one)."""
    return convention_covering(session.scalars(select(Convention).where(
        Convention.donneur_id == donneur_id, Convention.start_date <= on)), on)


def convention_covering(conventions: Iterable[Convention], on: dt.date) -> Convention | None:
    """Among one donneur's conventions (already read), the one covering ``on``: the rule of
    :func:`convention_in_force`, for callers that read many donneurs' conventions at once."""
    for conv in sorted(conventions, key=lambda c: c.start_date, reverse=True):
        if conv.start_date <= on <= convention_last_day(conv):
            return conv
    return None


# --- who owns an e-mail address ---------------------------------------------------------------


def address_owner(session: Session, email: str) -> str | None:
    """Whoever already uses ``email`` (active contacts and users), as French « du contact de… »."""
    for c in session.scalars(select(Contact).where(func.lower(Contact.email) == email,
                                                   Contact.active.is_(True))):
        if c.kind == ContactKind.ENTREPRISE:
            name = session.scalar(select(Company.name).where(Company.id == c.company_id))
            return f"du contact de l'entreprise {name}"
        if c.kind == ContactKind.REFERENT:
            name = session.scalar(select(Donneur.name).where(Donneur.id == c.donneur_id))
            return f"d'un·e référent·e de {name}"
        name = session.scalar(select(Prescriber.name).where(Prescriber.id == c.prescriber_id))
        return f"d'un contact du prescripteur {name}"
    user = session.scalar(select(User).where(func.lower(User.email) == email,
                                             User.active.is_(True)))
    if user is not None and user.role == Role.ENTREPRISE:
        return "d'un compte entreprise"
    return None


def _clean_email(email: str) -> str:
    from clauses.importing.values import ValueProblem, parse_email

    try:
        return parse_email(email)
    except ValueProblem as exc:
        raise RegistryError(f"{exc} Écrivez nom@domaine.fr.") from None


# --- prescribers --------------------------------------------------------------------------------


def parse_prescriber_kind(text: str) -> PrescriberKind:
    key = re.sub(r"[\s\-']+", "_", fold(text))
    for kind in PrescriberKind:
        if key in (kind.value, re.sub(r"[\s\-']+", "_", fold(PRESCRIBER_KIND_FR.get(kind, "")))):
            return kind
    raise RegistryError(f"Type de prescripteur inconnu « {text} ». Types possibles : "
                        + ", ".join(k.value for k in PrescriberKind) + ".")


def find_prescriber(session: Session, name: str) -> Prescriber:
    """Exact name (case and accents ignored), else a unique partial match, else close names."""
    from clauses.bilan.lookup import _suggest

    all_ = list(session.scalars(select(Prescriber).order_by(Prescriber.name)))
    by_fold = {fold(p.name): p for p in all_}
    if fold(name) in by_fold:
        return by_fold[fold(name)]
    partial = [p for k, p in by_fold.items() if fold(name) and fold(name) in k]
    if len(partial) == 1:
        return partial[0]
    close = ([p.name for p in partial] if partial
             else _suggest(name, {k: p.name for k, p in by_fold.items()}))
    hint = (f" Vouliez-vous dire : {', '.join(f'« {n} »' for n in close[:5])} ?" if close
            else " Voyez « clausebot prescripteur list ».")
    raise RegistryError(f"Prescripteur inconnu « {name} ».{hint}")


def _clean_domain(domain: str) -> str:
    value = domain.strip().lower().removeprefix("@")
    if not _DOMAIN.match(value):
        raise RegistryError(f"Domaine e-mail invalide « {domain} » : écrivez-le sans adresse "
                            "(ex. francetravail.fr).")
    if value in PUBLIC_MAIL_DOMAINS:
        raise RegistryError(f"Le domaine {value} est une messagerie publique : tout le monde "
                            "peut écrire depuis lui. Enregistrez plutôt les adresses des "
                            "conseiller·ère·s une par une (--email).")
    return value


def _add_domains(session: Session, actor: Actor, prescriber: Prescriber,
                 domains: Sequence[str]) -> None:
    for raw in domains:
        domain = _clean_domain(raw)
        owner = session.scalar(select(Prescriber).join(
            PrescriberDomain, PrescriberDomain.prescriber_id == Prescriber.id)
            .where(PrescriberDomain.domain == domain))
        if owner is not None and owner.id == prescriber.id:
            continue
        if owner is not None:
            raise RegistryError(f"Le domaine {domain} est déjà celui de « {owner.name} » : un "
                                "domaine ne peut désigner qu'un prescripteur. Enregistrez les "
                                "adresses des conseiller·ère·s une par une (--email).")
        session.add(PrescriberDomain(prescriber_id=prescriber.id, domain=domain))
        session.flush()
        audit.record(session, actor, "prescriber.domain_added", "prescriber", prescriber.id,
                     domain=domain)


def _add_staff(session: Session, actor: Actor, prescriber: Prescriber,
               emails: Sequence[str]) -> None:
    for raw in emails:
        email = _clean_email(raw)
        existing = session.scalar(select(Contact).where(
            Contact.prescriber_id == prescriber.id, func.lower(Contact.email) == email))
        if existing is not None and existing.active:
            continue
        owner = address_owner(session, email)
        if owner is not None:
            raise RegistryError(f"L'adresse {email} est déjà celle {owner} : une adresse ne "
                                "désigne qu'un interlocuteur.")
        if existing is not None:
            existing.active = True
        else:
            existing = Contact(kind=ContactKind.PRESCRIPTEUR, prescriber_id=prescriber.id,
                               name=email.split("@")[0], email=email)
            session.add(existing)
            session.flush()
        audit.record(session, actor, "prescriber.staff_added", "contact", existing.id,
                     prescriber_id=prescriber.id)


def create_prescriber(session: Session, actor: Actor, *, name: str, kind: PrescriberKind,
                      domains: Sequence[str] = (), emails: Sequence[str] = ()) -> Prescriber:
    """A prescriber organisation; its staff addresses and domains make its mail recognised."""
    authorize(session, actor, Action.ADMIN_WRITE)
    name = re.sub(r"\s+", " ", name).strip()
    if not name or len(name) > 200:
        raise RegistryError("Nom de prescripteur vide ou trop long (200 caractères).")
    for p in session.scalars(select(Prescriber)):
        if fold(p.name) == fold(name):
            raise RegistryError(f"Le prescripteur « {p.name} » existe déjà (voir « clausebot "
                                "prescripteur list »).")
    prescriber = Prescriber(name=name, kind=kind)
    with session.begin_nested():  # a refused domain or address leaves no half organisation
        session.add(prescriber)
        session.flush()
        audit.record(session, actor, "prescriber.created", "prescriber", prescriber.id,
                     name=name, kind=kind.value)
        _add_domains(session, actor, prescriber, list(domains))
        _add_staff(session, actor, prescriber, list(emails))
    return prescriber


def edit_prescriber(session: Session, actor: Actor, name: str, *, new_name: str | None = None,
                    kind: PrescriberKind | None = None, add_domains: Sequence[str] = (),
                    remove_domains: Sequence[str] = (), add_emails: Sequence[str] = (),
                    remove_emails: Sequence[str] = ()) -> Prescriber:
    authorize(session, actor, Action.ADMIN_WRITE)
    prescriber = find_prescriber(session, name)
    if not (new_name or kind or add_domains or remove_domains or add_emails or remove_emails):
        raise RegistryError("Rien à modifier : donnez --nouveau-nom, --type, --ajouter-domaine, "
                            "--retirer-domaine, --ajouter-email ou --retirer-email.")
    with session.begin_nested():  # all the changes, or none when one is refused
        if new_name:
            for p in session.scalars(select(Prescriber).where(Prescriber.id != prescriber.id)):
                if fold(p.name) == fold(new_name):
                    raise RegistryError(f"Le prescripteur « {p.name} » existe déjà.")
            audit.record(session, actor, "prescriber.renamed", "prescriber", prescriber.id,
                         before=prescriber.name, after=new_name.strip())
            prescriber.name = new_name.strip()
        if kind is not None and kind != prescriber.kind:
            audit.record(session, actor, "prescriber.kind_changed", "prescriber", prescriber.id,
                         before=prescriber.kind.value, after=kind.value)
            prescriber.kind = kind
        for raw in remove_domains:
            domain = raw.strip().lower().removeprefix("@")
            row = session.scalar(select(PrescriberDomain).where(
                PrescriberDomain.prescriber_id == prescriber.id, PrescriberDomain.domain == domain))
            if row is None:
                raise RegistryError(f"« {prescriber.name} » n'a pas le domaine {domain}.")
            session.delete(row)  # a domain is a matching rule, not history: nothing refers to it
            audit.record(session, actor, "prescriber.domain_removed", "prescriber", prescriber.id,
                         domain=domain)
        _add_domains(session, actor, prescriber, list(add_domains))
        _add_staff(session, actor, prescriber, list(add_emails))
        for raw in remove_emails:
            email = _clean_email(raw)
            contact = session.scalar(select(Contact).where(
                Contact.prescriber_id == prescriber.id, func.lower(Contact.email) == email,
                Contact.active.is_(True)))
            if contact is None:
                raise RegistryError(f"« {prescriber.name} » n'a pas l'adresse {email}.")
            contact.active = False
            audit.record(session, actor, "prescriber.staff_ended", "contact", contact.id)
        session.flush()
    return prescriber


def deactivate_prescriber(session: Session, actor: Actor, name: str) -> Prescriber:
    """Its mail is no longer recognised and no invitation names it; its candidatures stay."""
    authorize(session, actor, Action.ADMIN_WRITE)
    prescriber = find_prescriber(session, name)
    if not prescriber.active:
        raise RegistryError(f"« {prescriber.name} » est déjà désactivé.")
    prescriber.active = False
    audit.record(session, actor, "prescriber.deactivated", "prescriber", prescriber.id)
    return prescriber


@dataclass(frozen=True)
class PrescriberRow:
    name: str
    kind: PrescriberKind
    domains: list[str]
    emails: list[str]
    active: bool


def list_prescribers(session: Session, actor: Actor) -> list[PrescriberRow]:
    authorize(session, actor, Action.ADMIN_WRITE)
    rows = []
    for p in session.scalars(select(Prescriber).order_by(Prescriber.name)):
        emails = list(session.scalars(select(Contact.email).where(
            Contact.prescriber_id == p.id, Contact.active.is_(True)).order_by(Contact.email)))
        rows.append(PrescriberRow(p.name, p.kind, [d.domain for d in p.domains],
                                  [e for e in emails if e], p.active))
    return rows


def prescriber_for_domain(session: Session, domain: str) -> Prescriber | None:
    """The active prescriber that claims ``domain`` (an e-mail's part after the @)."""
    return session.scalar(select(Prescriber).join(
        PrescriberDomain, PrescriberDomain.prescriber_id == Prescriber.id)
        .where(PrescriberDomain.domain == domain.strip().lower(), Prescriber.active.is_(True)))


# --- référents ----------------------------------------------------------------------------------


def _find_referent(session: Session, email: str) -> Contact:
    email = _clean_email(email)
    contact = session.scalar(select(Contact).where(
        Contact.kind == ContactKind.REFERENT, func.lower(Contact.email) == email,
        Contact.active.is_(True)))
    if contact is None:
        raise RegistryError(f"Aucun·e référent·e actif·ve avec l'adresse {email} (voir "
                            "« clausebot referent list »).")
    return contact


def donneur_name(session: Session, donneur_id: int | None) -> str:
    return session.scalar(select(Donneur.name).where(Donneur.id == donneur_id)) or "?"


def referent_exists(session: Session, email: str) -> bool:
    """An active référent already has this address (a registries file loaded again)."""
    try:
        _find_referent(session, email)
    except RegistryError:
        return False
    return True


def add_referent(session: Session, actor: Actor, *, donneur: str, name: str, email: str,
                 position: str | None = None) -> Contact:
    """A buyer's référent: receives bilans, points d'étape and escalation mail by e-mail."""
    authorize(session, actor, Action.ADMIN_WRITE)
    owner = find_donneur(session, donneur)
    email = _clean_email(email)
    name = re.sub(r"\s+", " ", name).strip()
    if not name or len(name) > 200:
        raise RegistryError("Nom du ou de la référent·e vide ou trop long (200 caractères).")
    if position is not None and len(position) > 200:
        raise RegistryError("Fonction trop longue (200 caractères).")
    who = address_owner(session, email)
    if who is not None:
        raise RegistryError(f"L'adresse {email} est déjà celle {who} : un·e référent·e "
                            "ne peut pas partager l'adresse d'une entreprise ni d'un autre "
                            "interlocuteur (ses e-mails seraient attribués au mauvais).")
    contact = Contact(kind=ContactKind.REFERENT, donneur_id=owner.id, name=name, email=email,
                      position=(position or "").strip() or None)
    session.add(contact)
    session.flush()
    audit.record(session, actor, "referent.created", "contact", contact.id, donneur_id=owner.id)
    return contact


def edit_referent(session: Session, actor: Actor, email: str, *, name: str | None = None,
                  new_email: str | None = None, position: str | None = None) -> Contact:
    authorize(session, actor, Action.ADMIN_WRITE)
    contact = _find_referent(session, email)
    changed: list[str] = []
    if new_email is not None:
        clean = _clean_email(new_email)
        if clean != contact.email:
            who = address_owner(session, clean)
            if who is not None:
                raise RegistryError(f"L'adresse {clean} est déjà celle {who}.")
            contact.email = clean
            changed.append("email")
    if name is not None and name.strip():
        contact.name = re.sub(r"\s+", " ", name).strip()[:200]
        changed.append("name")
    if position is not None:
        contact.position = position.strip()[:200] or None
        changed.append("position")
    if not changed:
        raise RegistryError("Rien à modifier : donnez --nom, --nouvel-email ou --fonction.")
    audit.record(session, actor, "referent.edited", "contact", contact.id, fields=changed)
    return contact


def end_referent(session: Session, actor: Actor, email: str) -> Contact:
    """No more mail to this référent (left the buyer); past sendings keep naming them."""
    authorize(session, actor, Action.ADMIN_WRITE)
    contact = _find_referent(session, email)
    contact.active = False
    audit.record(session, actor, "referent.ended", "contact", contact.id)
    return contact


@dataclass(frozen=True)
class ReferentRow:
    donneur: str
    name: str
    email: str | None
    position: str | None
    has_account: bool


def list_referents(session: Session, actor: Actor, donneur: str | None = None) -> list[ReferentRow]:
    authorize(session, actor, Action.ADMIN_WRITE)
    q = (select(Contact, Donneur.name).join(Donneur, Donneur.id == Contact.donneur_id)
         .where(Contact.kind == ContactKind.REFERENT, Contact.active.is_(True)))
    if donneur:
        q = q.where(Contact.donneur_id == find_donneur(session, donneur).id)
    accounts = set(session.scalars(select(func.lower(User.email)).where(
        User.role == Role.REFERENT, User.active.is_(True), User.email.is_not(None))))
    return [ReferentRow(name, c.name, c.email, c.position, (c.email or "") in accounts)
            for c, name in session.execute(q.order_by(Donneur.name, Contact.name))]


# --- companies and engagements ------------------------------------------------------------------


def deactivate_company(session: Session, actor: Actor, company: Company, on: dt.date) -> int:
    """A company that closed or left: its open engagements end on ``on`` (no reminder, no
    lateness after it), its contacts' mail is no longer attributed to it and its chat accounts
    are closed. Returns the number of engagements ended."""
    authorize(session, actor, Action.ADMIN_WRITE)
    if not company.active:
        raise RegistryError(f"L'entreprise {company.name} est déjà désactivée.")
    company.active = False
    ended = 0
    for eng in session.scalars(select(Engagement).where(Engagement.company_id == company.id,
                                                        Engagement.ended_on.is_(None))):
        eng.ended_on = on
        ended += 1
    for contact in session.scalars(select(Contact).where(Contact.company_id == company.id)):
        contact.active = False
    accounts = 0
    for user in session.scalars(select(User).where(User.company_id == company.id,
                                                   User.active.is_(True))):
        user.active = False  # former staff no longer read the company's data
        accounts += 1
    audit.record(session, actor, "company.deactivated", "company", company.id,
                 on=on.isoformat(), engagements_ended=ended, accounts_closed=accounts)
    return ended


def edit_engagement(session: Session, actor: Actor, engagement: Engagement, *,
                    hours_owed: Decimal | None = None,
                    means: EngagementMeans | None = None) -> Engagement:
    authorize(session, actor, Action.ADMIN_WRITE)
    if hours_owed is None and means is None:
        raise RegistryError("Rien à modifier : donnez --heures ou --moyen.")
    before = {"hours_owed": str(engagement.hours_owed), "means": str(engagement.means)}
    if hours_owed is not None:
        if hours_owed < 0:
            raise RegistryError("Les heures dues ne peuvent pas être négatives.")
        engagement.hours_owed = hours_owed
    if means is not None:
        engagement.means = means
    audit.record(session, actor, "engagement.edited", "engagement", engagement.id, before=before,
                 after={"hours_owed": str(engagement.hours_owed), "means": str(engagement.means)})
    return engagement


def end_engagement(session: Session, actor: Actor, engagement: Engagement, on: dt.date) -> Engagement:
    """The engagement stops on ``on`` (company replaced, lot cancelled): reminders stop after it."""
    authorize(session, actor, Action.ADMIN_WRITE)
    if engagement.ended_on is not None:
        raise RegistryError(f"Cet engagement est déjà terminé (le {fr_date(engagement.ended_on)}).")
    engagement.ended_on = on
    audit.record(session, actor, "engagement.ended", "engagement", engagement.id, on=on.isoformat())
    return engagement
