"""``envelope.ini``: the MEDO client's envelope file, an INI text in windows-1251.

Sections ``[ПИСЬМО КП ПС СЗИ]`` (subject and flags), ``[АДРЕСАТЫ]`` and ``[ФАЙЛЫ]`` (numbered
lists). Read strictly enough to refuse garbage (a size cap, windows-1251, every line a section,
a key=value or blank) and leniently about what MEDO clients vary (case of keys, spaces, a
UTF-8 byte order mark, extra keys and sections).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.medo.errors import PackageError

ENVELOPE_NAMES = ("envelope.ini", "envelope.ltr")
LETTER = "ПИСЬМО КП ПС СЗИ"
ADDRESSEES = "АДРЕСАТЫ"
FILES = "ФАЙЛЫ"
MAX_ENVELOPE_BYTES = 64 * 1024  # a few hundred lines; anything larger is not an envelope file


@dataclass
class EnvelopeFile:
    """What ``envelope.ini`` says: the subject, flags, addressees and the package's files."""

    subject: str = ""
    signed: bool = False
    encrypted: bool = False
    addressees: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def render(envelope: EnvelopeFile) -> bytes:
    """The file in windows-1251, CRLF line ends (what MEDO clients write); a character that
    windows-1251 cannot hold is refused here rather than written as '?'."""
    lines = [
        f"[{LETTER}]",
        f"ТЕМА={_one_line(envelope.subject)}",
        f"ШИФРОВАНИЕ={int(envelope.encrypted)}",
        f"ЭЦП={int(envelope.signed)}",
        "ДОСТАВЛЕНО=1",
        "ПРОЧТЕНО=1",
        f"[{ADDRESSEES}]",
        *(f"{n}={a}" for n, a in enumerate(envelope.addressees)),
        f"[{FILES}]",
        *(f"{n}={name}" for n, name in enumerate(envelope.files)),
    ]
    text = "\r\n".join(lines) + "\r\n"
    try:
        return text.encode("windows-1251")
    except UnicodeEncodeError as exc:
        bad = text[exc.start : exc.end]
        raise PackageError(f"envelope.ini: {bad!r} cannot be written in windows-1251") from None


def _one_line(text: str) -> str:
    return " ".join(text.split())[:1000]


def parse(data: bytes) -> EnvelopeFile:
    """The envelope file's content; PackageError says what is wrong with it."""
    if len(data) > MAX_ENVELOPE_BYTES:
        raise PackageError(
            f"envelope.ini is {len(data)} bytes; an envelope file has at most "
            f"{MAX_ENVELOPE_BYTES} bytes"
        )
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            text = data[3:].decode("utf-8")
        except UnicodeDecodeError:
            raise PackageError("envelope.ini starts with a UTF-8 mark but is not UTF-8") from None
    else:
        try:
            text = data.decode("windows-1251")
        except UnicodeDecodeError as exc:
            raise PackageError(
                f"envelope.ini is not windows-1251 (byte {data[exc.start]:#04x} at {exc.start})"
            ) from None
    if "\x00" in text:
        raise PackageError("envelope.ini holds NUL characters: not a text file")
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith((";", "#")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1].strip().upper(), {})
            continue
        key, sep, value = line.partition("=")
        if not sep or current is None:
            raise PackageError(f"envelope.ini line {number}: {line[:80]!r} is not key=value")
        current[key.strip().upper()] = value.strip()
    if LETTER not in sections:
        raise PackageError(f"envelope.ini has no [{LETTER}] section")
    letter = sections[LETTER]
    files = _numbered(sections.get(FILES, {}), FILES)
    if not files:
        raise PackageError(f"envelope.ini lists no files in [{FILES}]")
    return EnvelopeFile(
        subject=letter.get("ТЕМА", ""),
        signed=letter.get("ЭЦП", "0") == "1",
        encrypted=letter.get("ШИФРОВАНИЕ", "0") == "1",
        addressees=_numbered(sections.get(ADDRESSEES, {}), ADDRESSEES),
        files=files,
    )


def _numbered(section: dict[str, str], name: str) -> list[str]:
    try:
        entries = sorted((int(k), v) for k, v in section.items())
    except ValueError:
        raise PackageError(f"envelope.ini [{name}]: keys must be numbers 0, 1, …") from None
    return [value for _, value in entries if value]
