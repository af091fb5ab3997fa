"""The page's message catalogue kept whole: every string the templates and ``hub/ui`` code
mark for translation is in ``locale/ru`` and ``locale/en``, and no stale one stays.

    python -m hub.ui.catalog          # add new messages (empty), drop unused ones; keep the rest
    python -m hub.ui.catalog --check  # exit 1 naming what is missing or untranslated

A test runs the check: a Russian user never meets an English phrase left untranslated.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from hub.ui.i18n import LANGUAGES, LOCALE_DIR

ROOT = Path(__file__).parent
METHODS = [("templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"templates/**.html": {"extensions": "", "trimmed": "false"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2)}


def extracted() -> Catalog:
    """Every message marked in ``hub/ui`` (templates call ``_`` and ``ngettext``; the code
    ``self._``/``self.n_`` in words.py: looked for as ``_`` and ``n_``)."""
    catalog = Catalog(project="interagency-hub", charset="utf-8")
    keywords = {**KEYWORDS, "n_": (1, 2)}
    for filename, lineno, message, comments, _ in extract_from_dir(
        ROOT,
        METHODS,
        OPTIONS,
        keywords,  # type: ignore[arg-type]
    ):
        catalog.add(message, locations=[(filename, lineno)], auto_comments=comments)
    return catalog


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / "hub.po"


def problems() -> list[str]:
    template = extracted()
    wanted = {m.id if isinstance(m.id, str) else m.id[0] for m in template if m.id}
    found: list[str] = []
    for language in LANGUAGES:
        with po_path(language).open("rb") as source:
            catalog = read_po(source, locale=language)
        have = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalog if m.id}
        for missing in sorted(wanted - set(have)):
            found.append(f"{language}: missing {missing!r}")
        for unused in sorted(set(have) - wanted):
            found.append(f"{language}: unused {unused!r}")
        if language == "ru":
            for key in sorted(wanted & set(have)):
                strings = have[key].string
                if not strings or (isinstance(strings, tuple) and not all(strings)):
                    found.append(f"ru: untranslated {key!r}")
    return found


def update() -> None:
    template = extracted()
    for language in LANGUAGES:
        path = po_path(language)
        if path.exists():
            with path.open("rb") as source:
                catalog = read_po(source, locale=language)
        else:
            catalog = Catalog(locale=language, project="interagency-hub", charset="utf-8")
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        catalog.fuzzy = False  # a fuzzy header would be left out of the compiled catalogue
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            write_po(out, catalog, width=100, no_location=True, include_previous=False)


def main(argv: list[str]) -> int:
    if "--check" in argv:
        found = problems()
        for line in found:
            print(line)
        return 1 if found else 0
    update()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
