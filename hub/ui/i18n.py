"""Russian first, English too: gettext catalogues (``locale/<lang>/LC_MESSAGES/hub.po``),
compiled in memory when first used (no binary .mo files in the repository), and dates and
times as the administration writes them (15.12.2026, in its time zone).

The message ids are English; ``ru`` translates every one of them (a test checks that).
"""

from __future__ import annotations

import datetime as dt
import functools
import gettext
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES = ("ru", "en")
LOCALE_DIR = Path(__file__).parent / "locale"
COOKIE = "hub_lang"


@functools.cache
def translations(language: str) -> gettext.GNUTranslations:
    """The catalogue of ``language`` (ru, en), compiled from its .po file."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / "hub.po"
    with path.open("rb") as source:
        catalog = read_po(source, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def pick_language(cookie: str | None, accept: str | None, default: str) -> str:
    """The user's choice (cookie), else the browser's first known language, else ``default``."""
    if cookie in LANGUAGES:
        return str(cookie)
    weighted: list[tuple[float, str]] = []
    for part in (accept or "").split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        weighted.append((quality, tag.strip().lower().split("-")[0]))
    for _, language in sorted(weighted, key=lambda item: -item[0]):
        if language in LANGUAGES:
            return language
    return default


class Formats:
    """Dates and times for one language and time zone."""

    def __init__(self, language: str, zone: dt.tzinfo) -> None:
        self.language = language
        self.zone = zone

    def date(self, value: dt.date | str | None) -> str:
        """15.12.2026 (the administration's way, in both languages)."""
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            value = self._moment(value) if "T" in value else dt.date.fromisoformat(value[:10])
        if isinstance(value, dt.datetime):
            value = value.astimezone(self.zone).date()
        return value.strftime("%d.%m.%Y")

    def moment(self, value: str | dt.datetime | None) -> str:
        """15.12.2026 14:05 in the administration's time zone."""
        if not value:
            return ""
        moment = self._moment(value) if isinstance(value, str) else value
        return moment.astimezone(self.zone).strftime("%d.%m.%Y %H:%M")

    def moment_iso(self, value: str | None) -> str:
        """For <time datetime=…>: ISO in the administration's time zone."""
        if not value:
            return ""
        return self._moment(value).astimezone(self.zone).isoformat(timespec="seconds")

    @staticmethod
    def _moment(value: str) -> dt.datetime:
        moment = dt.datetime.fromisoformat(value)
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
