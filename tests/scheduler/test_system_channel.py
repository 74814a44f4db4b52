"""`Channel.SYSTEM` is what the service's own actions record: a scheduled job run from an
empty database (the example import, then `clausebot jobs run`) audits its work under it, so an
auditor tells the machine's decisions from a person's (CLI, chat, e-mail)."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import AuditEntry, Channel
from tests.journeys.conftest import EXAMPLES, cli  # noqa: F401  (the CLI fixture)


def test_a_scheduled_job_audits_its_actions_under_the_system_channel(db, cli):  # noqa: F811
    assert cli("import", str(EXAMPLES / "import_exemple.csv")).exit_code == 0
    out = cli("jobs", "run", "fee_milestones")
    assert out.exit_code == 0 and "traités" in out.output, out.output
    with db.session() as s:
        rows = s.execute(select(AuditEntry.action, AuditEntry.channel, AuditEntry.actor_label)).all()
    by_channel = {action: (channel, label) for action, channel, label in rows}
    assert by_channel["import_csv"][0] == Channel.CLI
    assert by_channel["fee.milestone_reached"] == (Channel.SYSTEM, "système")
