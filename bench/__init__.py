"""Benchmarks of clausebot (issue 10): run with ``python -m bench``; see docs/benchmarks.md."""
