"""E-mail channel: IMAP/Maildir intake, message understanding, replies and the SMTP outbox sender.

Entry points for the service live in :mod:`mail.service`. The package imports the domain
(`clauses`) and `storage`, never `clausebot` (the wiring) nor `bot`.
"""
