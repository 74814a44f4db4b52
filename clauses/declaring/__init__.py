"""The declaring wing: what decides which contracts are declarable, and when.

``lookup`` holds the predicates shared by every channel and every report (a contract running in a
month or a period, an eligibility still valid), each as a SQL expression with its Python twin side
by side, so a rule is written once and a test pins the two together.
"""
