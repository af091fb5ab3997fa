"""The protocol tests' own samples: SMEV replies captured from real nodes, in data/ beside them."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"  # see its SOURCES.md
