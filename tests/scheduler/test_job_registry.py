"""One declaration per job, one source per default, and the annual bilan with the agency's
identity (the scheduler once handed the identity to the renderer in the wrong slot)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from apscheduler.util import ref_to_obj
from sqlalchemy import select

from clausebot.settings import Settings
from clauses.context import DEFAULTS, AgencyIdentity, Policy
from clauses.due import DueRules
from mail.config import MailConfig
from scheduler import jobs
from scheduler.jobs import BY_ID, DAILY, JOBS, SCHEDULED, UnknownJob, run_job
from storage.models import OutboxMessage
from tests.scheduler.world import at, declared_territory

D = dt.date


def test_each_job_is_one_declaration_that_the_scheduler_can_store():
    assert len(BY_ID) == len(JOBS)  # no id declared twice
    assert tuple(spec.id for spec in JOBS if spec.id != "outbox") == DAILY
    for spec in JOBS:
        assert callable(ref_to_obj(spec.func))
        assert callable(spec.work)
        if spec.daily:
            assert (spec.func, spec.args) == (SCHEDULED, (spec.id,))
    assert (BY_ID["outbox"].func, BY_ID["outbox"].args) == ("scheduler.jobs:outbox", ())
    assert ref_to_obj(SCHEDULED) is jobs.scheduled


def test_an_unknown_job_is_refused_in_french(ctx):
    with pytest.raises(UnknownJob) as err:
        run_job(ctx, "rappels")
    assert "Tâche inconnue : « rappels »" in err.value.message_fr
    assert "declaration_reminders" in err.value.message_fr


def test_the_defaults_have_one_source():
    shared = {field.name for field in dataclasses.fields(Policy)} - {"agency"}
    settings_defaults = {name: Settings.model_fields[name].default for name in shared}
    assert settings_defaults == {name: getattr(DEFAULTS, name) for name in shared}
    rules = DueRules()
    assert (rules.reminder_day, rules.second_reminder_after_days, rules.annual_bilan_date,
            rules.annual_bilan_auto) == (5, 7, "01-31", False)
    assert DueRules.from_policy(DEFAULTS) == rules
    mail = MailConfig()
    assert (mail.agency_name, mail.agency_email, mail.outbox_max_attempts,
            mail.retention_raw_mail_days) == (DEFAULTS.agency_name, DEFAULTS.agency_email,
                                              DEFAULTS.outbox_max_attempts,
                                              DEFAULTS.retention_raw_mail_days)
    assert AgencyIdentity().name == DEFAULTS.agency_name == "Agence clauses sociales"


def test_the_annual_bilan_goes_out_with_the_agency_identity(ctx, clock):
    with ctx.db.session() as s:
        declared_territory(s)
    agency = AgencyIdentity(name="Maison de l'Emploi Test", address="12 rue des Métiers; 69000 Lyon",
                            signature="Le service Clauses sociales")
    ctx = dataclasses.replace(ctx, policy=Policy(annual_bilan_auto=True, annual_bilan_date="02-02",
                                                 agency=agency))
    clock.set(at(D(2026, 2, 2)))  # a Monday
    result = run_job(ctx, "annual_bilans")
    assert (result.done, result.errors) == (1, [])
    with ctx.db.session() as s:
        mails = list(s.scalars(select(OutboxMessage)
                               .where(OutboxMessage.dedup_key.like("bilan_annuel:%"))))
    assert mails
    assert all("69000 Lyon" in (m.body_html or "") and "Le service Clauses sociales" in (m.body_html or "")
               for m in mails)
