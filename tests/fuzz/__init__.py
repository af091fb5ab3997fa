"""Fuzzing that stays in the repo (issue 20): mutations, one target per parser, harnesses.

``mutations`` turns a real example into hostile variants; ``targets`` feeds them to each parser
and sorts the outcome into a clean rejection, an acceptance, or a finding (an unexpected
exception, a broken invariant: above all a mutant that verifies while its signed content
differs from the original). The hypothesis tests in this folder run each target for a few
seconds in CI; ``bench/fuzz.py --minutes N`` runs them for as long as asked (docs/fuzzing.md).
"""
