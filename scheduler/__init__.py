"""Scheduled jobs (APScheduler 3, asyncio): reminders, alerts, bilans and the outbox flush.

* :mod:`scheduler.jobs` — the job registry, :func:`~scheduler.jobs.run_job` and the storable
  module-level job functions;
* :mod:`scheduler.service` — :func:`~scheduler.service.start_scheduler`, called from inside the
  service's running loop, and :func:`~scheduler.service.serve` for ``clausebot jobs serve``;
* :mod:`scheduler.bilans` — the default annual bilan e-mail (clauses.bilan + reports).

What is due comes from :mod:`clauses.due`; what is sent, and the record that it was, from
:mod:`clauses.reminders`. This package holds no SMTP or Telegram code: the senders hand their
flush coroutines to :func:`~scheduler.service.start_scheduler`.
"""
