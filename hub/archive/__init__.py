"""The tamper-evident archive (docs/archive.md): an RFC 9162 Merkle log of every envelope,
timeline event and administrator action, signed tree heads, proofs, bundles and their offline
check. This package is pure (no store, no network): ``hub/store/sql_archive.py`` keeps the log,
``hub/ops/archive.py`` puts the two together."""
