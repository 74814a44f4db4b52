"""Every agency tunable set in the settings reaches the domain's :class:`Policy`.

Why: ``Policy`` holds the defaults and ``policy_from`` copies the settings into it; a field the
copy forgets keeps its default in the domain while the settings say otherwise (the digest
threshold was forgotten once)."""

from __future__ import annotations

import dataclasses

from clausebot.settings import Settings
from clausebot.wiring import policy_from
from clauses.context import Policy


def test_each_shared_integer_tunable_is_carried_from_the_settings() -> None:
    shared = [f.name for f in dataclasses.fields(Policy)
              if f.name in Settings.model_fields and isinstance(getattr(Policy(), f.name), int)
              and not isinstance(getattr(Policy(), f.name), bool)]
    assert "alert_digest_threshold" in shared and "outbox_max_attempts" in shared
    changed = {name: getattr(Policy(), name) + 1 for name in shared}
    if "reminder_day" in changed:
        changed["reminder_day"] = 6  # a day of the month the settings accept
    policy = policy_from(Settings(**changed))
    assert {name: getattr(policy, name) for name in shared} == changed
