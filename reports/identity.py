"""The agency's identity on a document: name, address, logo, convention reference, signature.

It comes from the settings (``[agency]``, see :class:`clauses.context.AgencyIdentity`); when a
caller only has a name (older call sites, tests) the rest is simply absent. A logo file that
cannot be read is left out and logged: a missing image must never stop a bilan.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from pathlib import Path

from clauses.context import AgencyIdentity

log = logging.getLogger(__name__)

DEFAULT_NAME = "l’AMO Insertion"
MAX_LOGO_BYTES = 2 * 1024 * 1024
_IMAGE_TYPES = {b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg"}


@dataclass(frozen=True)
class AgencyView:
    name: str
    address_lines: list[str]
    convention_reference: str | None
    signature: str | None
    logo_mime: str | None = None
    logo_bytes: bytes | None = None

    @property
    def logo_data_uri(self) -> str | None:
        if not self.logo_bytes or not self.logo_mime:
            return None
        return f"data:{self.logo_mime};base64," + base64.b64encode(self.logo_bytes).decode()


def resolve(agency: AgencyIdentity | None, agency_name: str | None) -> AgencyView:
    """The identity to print: the configured one, else just the name given."""
    if agency is None:
        return AgencyView(agency_name or DEFAULT_NAME, [], None, None)
    address = (agency.address or "").replace(";", "\n")
    mime, data = _logo(agency.logo_file)
    return AgencyView(
        name=agency.name or agency_name or DEFAULT_NAME,
        address_lines=[line.strip() for line in address.splitlines() if line.strip()],
        convention_reference=agency.convention_reference or None,
        signature=agency.signature or None,
        logo_mime=mime,
        logo_bytes=data,
    )


def _logo(path: str | None) -> tuple[str | None, bytes | None]:
    if not path:
        return None, None
    try:
        file = Path(path)
        if file.stat().st_size > MAX_LOGO_BYTES:
            log.warning("agency logo %s larger than %d bytes: left out", path, MAX_LOGO_BYTES)
            return None, None
        data = file.read_bytes()
    except OSError as exc:
        log.warning("agency logo %s unreadable (%s): left out", path, exc)
        return None, None
    for magic, mime in _IMAGE_TYPES.items():
        if data.startswith(magic):
            return mime, data
    log.warning("agency logo %s is neither PNG nor JPEG: left out", path)
    return None, None
