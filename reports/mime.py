"""Turning a :class:`~reports.html.RenderedEmail` into a standard MIME message.

The mail sender may build its own; this is the reference layout (and what ``clausebot bilan
--format eml`` writes): multipart/alternative (text, then multipart/related with the HTML and its
``cid:`` images), plus optional attachments (the XLSX and PDF).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from reports.html import RenderedEmail

XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def build_message(
    rendered: RenderedEmail,
    *,
    sender: str,
    recipients: Sequence[str],
    attachments: Iterable[tuple[str, bytes]] = (),
) -> EmailMessage:
    """``attachments`` are (file name, bytes); the type is taken from the extension."""
    msg = EmailMessage()
    msg["Subject"] = rendered.subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    html_part = msg.get_body(preferencelist=("html",))
    assert html_part is not None  # the alternative just added
    for cid, png in rendered.images:
        html_part.add_related(png, maintype="image", subtype="png", cid=f"<{cid}>",
                              filename=f"{cid}.png")
    for name, data in attachments:
        if name.endswith(".pdf"):
            maintype, subtype = "application", "pdf"
        elif name.endswith(".xlsx"):
            maintype, subtype = XLSX_TYPE
        else:
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg
