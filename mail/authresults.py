"""Check the receiving server's Authentication-Results (RFC 8601) for the From domain.

Why: a From address is trivially forged. When configured, declarations and requests are
accepted only if *our* receiving server recorded a passing DMARC result, or a passing DKIM or
SPF result aligned with the From domain. Only headers stamped with our `authserv_id` count
(anybody can add an Authentication-Results header before sending); without a configured id,
only the topmost header, the one our server added last, is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ResultInfo:
    method: str
    result: str
    props: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuthVerdict:
    passed: bool
    reason: str


_COMMENT = re.compile(r"\([^()]*\)")


def parse_header(value: str) -> tuple[str, list[ResultInfo]]:
    """`(authserv_id, results)` from one header value; malformed parts are skipped."""
    text = value
    for _ in range(3):  # nested comments, a few levels are plenty
        text = _COMMENT.sub(" ", text)
    chunks = [c.strip() for c in text.split(";")]
    if not chunks or not chunks[0]:
        return "", []
    authserv = chunks[0].split()[0].lower()
    results: list[ResultInfo] = []
    for chunk in chunks[1:]:
        tokens = chunk.split()
        if not tokens or "=" not in tokens[0]:
            continue
        method, _, result = tokens[0].partition("=")
        props: dict[str, str] = {}
        for token in tokens[1:]:
            if "=" in token:
                key, _, val = token.partition("=")
                props[key.lower()] = val.strip('"').lower()
        results.append(ResultInfo(method.lower().split("/")[0], result.lower(), props))
    return authserv, results


def _domain_of(value: str) -> str:
    return value.rpartition("@")[2].strip("<>").lower()


def _aligned(domain: str, from_domain: str) -> bool:
    """Relaxed alignment: same domain, or one a subdomain of the other."""
    if not domain or not from_domain:
        return False
    return (
        domain == from_domain
        or from_domain.endswith("." + domain)
        or domain.endswith("." + from_domain)
    )


def _considered(headers: list[str], authserv_id: str | None) -> list[list[ResultInfo]]:
    """Result groups stamped by our server: with our id, or else the topmost header only."""
    if authserv_id:
        wanted = authserv_id.lower()
        return [r for a, r in map(parse_header, headers) if a == wanted]
    return [parse_header(headers[0])[1]] if headers else []


def explicit_failure(headers: list[str], authserv_id: str | None) -> str | None:
    """Why our receiving server *says* the sender is forged, or None.

    Why a second check beside :func:`verify`: requiring a pass (opt-in) refuses partners whose
    domain publishes nothing; an explicit ``dmarc=fail``, or SPF/DKIM failing with nothing
    passing, is the server telling us the From is not who it claims, and is never trusted,
    whatever the settings say (``mail_reject_failed_authentication``, default on).
    """
    results = [r for group in _considered(headers, authserv_id) for r in group]
    if any(r.method == "dmarc" and r.result == "fail" for r in results):
        return "dmarc=fail"
    failed = [r for r in results if r.method in ("spf", "dkim") and r.result in ("fail", "softfail")]
    passed = [r for r in results if r.result == "pass"]
    if failed and not passed:
        return ", ".join(f"{r.method}={r.result}" for r in failed)
    return None


def verify(headers: list[str], from_domain: str, authserv_id: str | None) -> AuthVerdict:
    """Decide whether the From domain is authenticated according to `headers` (top first)."""
    from_domain = from_domain.lower()
    considered = _considered(headers, authserv_id)
    if not considered:
        return AuthVerdict(False, "no Authentication-Results from our server")
    results = [r for group in considered for r in group]
    if any(r.method == "dmarc" and r.result == "fail" for r in results):
        return AuthVerdict(False, "dmarc=fail")
    order = {"dmarc": 0, "dkim": 1, "spf": 2}
    for r in sorted(results, key=lambda r: order.get(r.method, 9)):
        if r.method == "dmarc" and r.result == "pass":
            hfrom = r.props.get("header.from")
            if hfrom is None or _aligned(hfrom, from_domain):
                return AuthVerdict(True, "dmarc=pass")
        if r.method == "dkim" and r.result == "pass":
            d = r.props.get("header.d") or _domain_of(r.props.get("header.i", ""))
            if _aligned(d, from_domain):
                return AuthVerdict(True, f"dkim=pass d={d}")
        if r.method == "spf" and r.result == "pass":
            mailfrom = _domain_of(r.props.get("smtp.mailfrom", "")) or r.props.get("smtp.helo", "")
            if _aligned(mailfrom, from_domain):
                return AuthVerdict(True, f"spf=pass {mailfrom}")
    summary = ", ".join(f"{r.method}={r.result}" for r in results) or "none"
    return AuthVerdict(False, f"no aligned pass ({summary})")
