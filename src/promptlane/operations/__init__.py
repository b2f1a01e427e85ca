"""Decisions several commands share, made from the store's files by the core's rules.

The gates as asked of a repository (gating), staging a promotion (promotion), the policy
and the other governance inputs against the base (governance), promotions judged again
(rejudge), status rows (status), the history for people (history), and the full audit
verification (verify). Each gathers what it needs from promptlane.store, asks
promptlane.core, and writes nothing itself but through a store transaction.
"""
