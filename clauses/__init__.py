"""The clause domain: rulebook (data), pure rules and use-case services.

Pure rules take plain values and a :class:`clauses.rulebook.Rulebook` and touch no database:
``chiffrage`` (hours owed by a lot), ``eligibility``, ``declaration_rules``, ``counting``,
``progress``, ``escalation``, ``penalties``, ``formatting`` (French figures and dates), ``catalog``
(closed enumerations) and ``errors`` (typed refusals with French messages). Services built on
``storage`` call them. Nothing here imports bot, mail, scheduler, reports or clausebot.
"""
