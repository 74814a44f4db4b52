"""Jinja2 rendering of the French e-mails: one `<name>.txt.j2` and one `<name>.html.j2` each.

The text template sets the subject with `{% set subject = "..." %}`, read from the template's
module, so wording lives in one place. HTML templates autoescape (a sender's subject or a
candidate's name can contain markup); the text templates do not need to.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from clauses.formatting import fr_date, fr_hours, fr_month, fr_number

TEMPLATES_DIR = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(hours=fr_hours, month=fr_month, date=fr_date, number=fr_number)
    return env


def render(name: str, **context: Any) -> Rendered:
    """Render `name` (text and HTML parts); the subject comes from the text template."""
    env = environment()
    text_module = env.get_template(f"{name}.txt.j2").make_module(context)
    html = env.get_template(f"{name}.html.j2").render(**context)
    subject = " ".join(str(getattr(text_module, "subject", "")).split())
    return Rendered(subject=subject, text=str(text_module).strip() + "\n", html=html)
