"""The chat side of clausebot: Telegram (python-telegram-bot v22) and a console backend.

Design: one channel-neutral core, two thin backends.

* :mod:`bot.core` handles one event (:class:`bot.messages.Incoming`: a text, a file or a button
  press) and returns what to show (:class:`bot.messages.Outcome`). The commands and guided
  conversations live in :mod:`bot.flows`; they never see a PTB object.
* :mod:`bot.telegram_adapter` runs a PTB ``Application`` (real ``HTTPXRequest``, our own
  ``getUpdates`` loop that confirms an update only after it is handled) with one
  ``TypeHandler`` that feeds the core, and renders replies, toasts and keyboard edits.
* :mod:`bot.console` drives the same core from a terminal (buttons shown as ``[1] Valider``),
  for the offline embedded default and for demos; its in-process API serves the tests.

Why not PTB handlers with a console feeding fake ``Update`` objects into
``application.process_update``: the console would have to forge Telegram objects (message ids,
callback queries, file ids it cannot download), and PTB's ConversationHandler keeps its state
in a persistence flushed on a timer, apart from the database transaction. With the core, each
event is one transaction: update id (replays dropped), conversation state and domain writes
commit together, so a restart, a replay or a double tap can neither lose nor double anything.

Also here: :mod:`bot.outbox_sender` (delivers the chat rows of the outbox),
:mod:`bot.ratelimit` (Telegram flood limits, retries on RetryAfter) and :mod:`bot.service`
(``run_chat(ctx, settings, stop_event)`` / ``ChatService.start()``/``stop()`` for
``clausebot run``).
"""
