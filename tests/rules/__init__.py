"""Tests of the pure clause rules (clauses/*.py without storage): rulebooks, chiffrage,
eligibility, declarations, counting, progress, escalation, penalties, formatting."""
