"""The one place that turns settings into live objects (database, document store, rulebook)."""

from __future__ import annotations

from clausebot.settings import Settings
from clauses.clock import Clock
from clauses.context import AgencyIdentity, Context, Policy
from storage.db import Database
from storage.documents import DocumentStore


def policy_from(settings: Settings) -> Policy:
    return Policy(
        small_cell_threshold=settings.small_cell_threshold,
        retention_rejected_months=settings.retention_rejected_months,
        retention_inactive_months=settings.retention_inactive_months,
        retention_proof_months=settings.retention_proof_months,
        retention_raw_mail_days=settings.retention_raw_mail_days,
        retention_chat_days=settings.retention_chat_days,
        outbox_max_attempts=settings.outbox_max_attempts,
        alert_digest_threshold=settings.alert_digest_threshold,
        agency_name=settings.agency_name,
        agency_email=settings.agency_email,
        reminder_day=settings.reminder_day,
        second_reminder_after_days=settings.second_reminder_after_days,
        annual_bilan_date=settings.annual_bilan_date,
        annual_bilan_auto=settings.annual_bilan_auto,
        agency=AgencyIdentity(
            name=settings.agency.name or settings.agency_name,
            address=settings.agency.address,
            logo_file=str(settings.agency.logo_file) if settings.agency.logo_file else None,
            convention_reference=settings.agency.convention_reference,
            signature=settings.agency.signature),
    )


def build_context(settings: Settings, *, clock: Clock | None = None) -> Context:
    from clauses.alert_digest import configure_digest
    from clauses.alerts import configure_shared_inbox
    from clauses.rulebook import load_rulebook

    policy = policy_from(settings)
    configure_shared_inbox(settings.alerts_email)
    # the set-based alert writer has no context: the policy's value, set once per process
    configure_digest(policy.alert_digest_threshold)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Context(
        db=Database(settings.effective_database_url),
        documents=DocumentStore(settings.documents_dir,
                                max_bytes=settings.mail_max_attachment_bytes),
        rulebook=load_rulebook(settings.rulebook),
        clock=clock or Clock(),
        policy=policy,
    )
