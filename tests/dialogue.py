"""Scripted chat exchanges: each line a person types and the words its answer must contain."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def converse(chat: Any, script: Sequence[tuple[str, str]]) -> None:
    """Send each line in turn; the last reply to it must contain the expected words. A failure
    names the line and the whole reply, which a bare ``assert ... in`` would not."""
    for line, expected in script:
        reply = chat.send(line)[-1].text
        assert expected in reply, (line, reply)
