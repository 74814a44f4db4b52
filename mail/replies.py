"""Queue a French reply to a received message, threaded and safe against mail loops.

Replies go to the From address only (never Reply-To: a forged Reply-To would make us send
data to a third party). Nothing is sent to automatic senders (out-of-office, lists, bounces) or
to ourselves, which is what prevents two robots from answering each other forever. Each reply
has a dedup key derived from the inbound message, so processing the same message again never
sends a second reply.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from clauses.outbox import ANSWER, enqueue_email
from mail.config import MailConfig
from mail.parsing import ParsedMail
from mail.render import Rendered, render
from storage.models import OutboxMessage

NO_REPLY_LOCALPARTS = frozenset({"noreply", "no-reply", "no_reply", "donotreply", "do-not-reply",
                                 "mailer-daemon", "postmaster", "bounce", "bounces"})


def can_reply(parsed: ParsedMail, cfg: MailConfig) -> bool:
    address = parsed.from_address
    if not address or parsed.auto_submitted or parsed.is_bounce:
        return False
    if address == cfg.agency_email.lower():
        return False
    return address.partition("@")[0] not in NO_REPLY_LOCALPARTS


def thread_headers(parsed: ParsedMail) -> dict[str, str]:
    """In-Reply-To and References (RFC 5322 §3.6.4) so the reply joins the sender's thread."""
    headers = {"Auto-Submitted": "auto-replied"}
    if parsed.message_id:
        headers["In-Reply-To"] = parsed.message_id
        refs = [r for r in parsed.references if r != parsed.message_id][-10:]
        headers["References"] = " ".join([*refs, parsed.message_id])
    return headers


def reply_subject(parsed: ParsedMail, fallback: str) -> str:
    """"Re: <original subject>" so every client threads it; our summary is in the body."""
    original = " ".join(parsed.subject.split())
    if not original:
        return fallback
    if original.lower().startswith(("re:", "re :")):
        return original[:300]
    return f"Re: {original}"[:300]


def enqueue_reply(
    session: Session,
    cfg: MailConfig,
    parsed: ParsedMail,
    *,
    dedup_key: str,
    template: str | None = None,
    context: dict[str, Any] | None = None,
    rendered: Rendered | None = None,
    attachments: list[dict[str, Any]] | None = None,
) -> OutboxMessage | None:
    """Render `template` (or use `rendered`) and queue it; None when no reply may be sent."""
    if not can_reply(parsed, cfg):
        return None
    if rendered is None:
        assert template is not None
        rendered = render(
            template,
            agency_name=cfg.agency_name,
            original_subject=parsed.subject[:120],
            **(context or {}),
        )
    row, _created = enqueue_email(
        session,
        dedup_key=dedup_key,
        to=parsed.from_address or "",
        subject=reply_subject(parsed, rendered.subject),
        text=rendered.text,
        html=rendered.html,
        attachments=attachments or [],
        headers=thread_headers(parsed),
        priority=ANSWER,  # the sender is waiting for it: never behind bulk reminders
    )
    return row
