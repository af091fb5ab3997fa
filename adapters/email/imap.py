"""The hub's mailbox over IMAP (aioimaplib): search, claim, fetch, mark, move.

Exactly-once across hub processes rests on one primitive: a *conditional* flag change
(CONDSTORE, RFC 7162: ``UID STORE uid (UNCHANGEDSINCE modseq) +FLAGS ...``). The server applies
it only if nobody changed the message since ``modseq``, so of two pollers that try to claim the
same mail, exactly one wins. MOVE alone is not enough: Dovecot implements it as copy + expunge,
and two sessions moving the same message concurrently both succeed, leaving two copies.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aioimaplib
from aioimaplib.aioimaplib import Command

from adapters.email.settings import EmailSettings

log = logging.getLogger("hub.email")

CLAIMED = "$HubClaimed"  # a poller works on the mail
DONE = "$HubDone"  # handled: only the move to the processed folder is left
REJECTED = "$HubRejected"  # refused: only the move to the rejects folder is left

_UID = re.compile(rb"\bUID (\d+)")
_FLAGS = re.compile(rb"\bFLAGS \(([^)]*)\)")
_MODSEQ = re.compile(rb"\bMODSEQ \((\d+)\)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_INTERNALDATE = re.compile(rb'\bINTERNALDATE "([^"]+)"')
_LITERAL = re.compile(rb"\{(\d+)\}$")
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_IMAP_DATE = "%d-%b-%Y %H:%M:%S %z"


def folder_name(name: str) -> str:
    """A folder name as an IMAP astring (quoted when it holds spaces or specials)."""
    if re.fullmatch(r"[A-Za-z0-9._/+-]+", name):
        return name
    return '"' + name.replace("\\", "\\\\") + '"'


class ImapError(Exception):
    """The server refused a command or the connection failed."""


# what goes wrong on the IMAP side (not the mail's fault): the poll ends, the loop reconnects
IMAP_TROUBLE: tuple[type[BaseException], ...] = (
    ImapError,
    aioimaplib.AioImapException,
    OSError,
    TimeoutError,
)


@dataclass(frozen=True)
class MailInfo:
    """What a poll needs to know about a mail before deciding to touch it."""

    uid: int
    flags: frozenset[str]
    modseq: int
    size: int


def _check(response: Any, what: str) -> Any:
    if response.result != "OK":
        text = b" ".join(bytes(x) for x in response.lines[-1:]).decode("utf-8", "replace")
        raise ImapError(f"{what}: {response.result} {text}".strip())
    return response


class Mailbox:
    """One IMAP connection to the configured mailbox (reconnects are the caller's loop)."""

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings
        self._client: Any = None
        self.uidvalidity = 0
        self.condstore = False
        self.move_supported = False

    @property
    def connected(self) -> bool:
        return self._client is not None

    async def connect(self) -> None:
        s = self.settings
        host, port, timeout = s.imap_host, s.port("imap"), s.imap_timeout
        try:
            if s.imap_tls == "tls":
                client = aioimaplib.IMAP4_SSL(
                    host, port, timeout=timeout, ssl_context=s.tls_context("imap")
                )
            else:
                client = aioimaplib.IMAP4(host, port, timeout=timeout)
            self._client = client
            await client.wait_hello_from_server()
            if s.imap_tls == "starttls":
                await self._starttls(client)
            _check(await client.login(s.imap_user, s.password("imap")), "LOGIN")
            self.condstore = client.has_capability("CONDSTORE")
            self.move_supported = client.has_capability("MOVE")
            if self.condstore:
                _check(await client.enable("CONDSTORE"), "ENABLE CONDSTORE")
            else:
                log.warning(
                    "IMAP server %s has no CONDSTORE: claims are not atomic, so only one hub "
                    "process may poll %s",
                    host,
                    s.mailbox,
                )
            for folder in (s.processed_folder, s.rejects_folder):
                await client.create(folder_name(folder))  # NO [ALREADYEXISTS] is fine
            selected = _check(await client.select(folder_name(s.mailbox)), f"SELECT {s.mailbox}")
            for line in selected.lines:
                match = _UIDVALIDITY.search(bytes(line))
                if match:
                    self.uidvalidity = int(match.group(1))
        except BaseException:
            await self.close()
            raise

    async def _starttls(self, client: Any) -> None:
        protocol = client.protocol
        if "STARTTLS" not in protocol.capabilities:
            raise ImapError(f"{self.settings.imap_host} does not offer STARTTLS")
        command = Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        _check(
            await asyncio.wait_for(protocol.execute(command), self.settings.imap_timeout),
            "STARTTLS",
        )
        loop = asyncio.get_running_loop()
        protocol.transport = await loop.start_tls(
            protocol.transport,
            protocol,
            self.settings.tls_context("imap"),
            server_hostname=self.settings.imap_host,
        )
        await asyncio.wait_for(protocol.capability(), self.settings.imap_timeout)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if client.protocol is not None and client.protocol.state in ("AUTH", "SELECTED"):
                await asyncio.wait_for(client.logout(), 2)
        except Exception:
            pass
        transport = getattr(client.protocol, "transport", None)
        if transport is not None:
            transport.close()

    def _require(self) -> Any:
        if self._client is None:
            raise ImapError("not connected")
        return self._client

    # ------------------------------------------------------------------------- queries
    async def search(self) -> list[int]:
        """UIDs of every mail in the mailbox that is not marked deleted."""
        response = _check(await self._require().uid_search("UNDELETED"), "UID SEARCH")
        uids: list[int] = []
        for line in response.lines[:-1]:
            text = bytes(line).removeprefix(b"SEARCH").strip()
            if text and all(t.isdigit() for t in text.split()):
                uids += [int(t) for t in text.split()]
        return sorted(set(uids))

    async def info(self, uids: Iterable[int]) -> list[MailInfo]:
        wanted = sorted(uids)
        if not wanted:
            return []
        items = "(UID FLAGS RFC822.SIZE" + (" MODSEQ)" if self.condstore else ")")
        response = _check(
            await self._require().uid("fetch", ",".join(map(str, wanted)), items), "UID FETCH"
        )
        found: dict[int, MailInfo] = {}
        for line in response.lines:
            if not isinstance(line, bytes | bytearray):
                continue
            data = bytes(line)
            uid, flags = _UID.search(data), _FLAGS.search(data)
            if uid is None or flags is None or b"FETCH" not in data:
                continue
            modseq, size = _MODSEQ.search(data), _SIZE.search(data)
            number = int(uid.group(1))
            if number in wanted:
                found[number] = MailInfo(
                    number,
                    frozenset(flags.group(1).decode("utf-8", "replace").split()),
                    int(modseq.group(1)) if modseq else 0,
                    int(size.group(1)) if size else 0,
                )
        return [found[u] for u in wanted if u in found]

    async def fetch(self, uid: int, *, headers_only: bool = False) -> tuple[bytes, dt.datetime]:
        """The mail's bytes (without setting \\Seen) and the server's INTERNALDATE."""
        section = "BODY.PEEK[HEADER]" if headers_only else "BODY.PEEK[]"
        response = _check(
            await self._require().uid("fetch", str(uid), f"(UID INTERNALDATE {section})"),
            "UID FETCH",
        )
        lines = list(response.lines)
        for n, line in enumerate(lines[:-1]):
            if not isinstance(line, bytes) or _LITERAL.search(line) is None:
                continue
            around = line + (bytes(lines[n + 2]) if n + 2 < len(lines) else b"")
            match = _UID.search(around)
            if match is not None and int(match.group(1)) != uid:
                continue
            received = dt.datetime.now(dt.UTC)
            date = _INTERNALDATE.search(around)
            if date is not None:
                with contextlib.suppress(ValueError):
                    received = dt.datetime.strptime(date.group(1).decode(), _IMAP_DATE)
            return bytes(lines[n + 1]), received
        raise ImapError(f"UID {uid}: no longer in {self.settings.mailbox}")

    # ------------------------------------------------------------------------- changes
    async def store(self, uid: int, modseq: int, change: str, flags: Iterable[str]) -> int | None:
        """Change flags only if the mail is unchanged since ``modseq``.

        Returns the mail's new modseq, or None when someone else changed it first or it is gone
        (the claim or the finish is lost). Without CONDSTORE the change is unconditional.
        """
        args = [str(uid)]
        if self.condstore:
            args.append(f"(UNCHANGEDSINCE {modseq})")
        args += [f"{change}FLAGS.SILENT", "(" + " ".join(flags) + ")"]
        response = _check(await self._require().uid("store", *args), "UID STORE")
        if not self.condstore:
            return modseq
        new: int | None = None
        for line in response.lines:
            data = bytes(line) if isinstance(line, bytes | bytearray) else b""
            if b"[MODIFIED" in data:
                return None
            uid_match, modseq_match = _UID.search(data), _MODSEQ.search(data)
            if uid_match and modseq_match and int(uid_match.group(1)) == uid:
                new = int(modseq_match.group(1))
        # every change we make really changes the flags, so a success always reports the new
        # MODSEQ; no report means the mail is gone (another poller moved it)
        return new

    async def move(self, uid: int, folder: str) -> None:
        client = self._require()
        if self.move_supported:
            _check(await client.uid("move", str(uid), folder_name(folder)), f"UID MOVE {folder}")
            return
        _check(await client.uid("copy", str(uid), folder_name(folder)), f"UID COPY {folder}")
        _check(await client.uid("store", str(uid), "+FLAGS.SILENT", r"(\Deleted)"), "UID STORE")
        if client.has_capability("UIDPLUS"):
            _check(await client.uid("expunge", str(uid)), "UID EXPUNGE")
        else:
            _check(await client.expunge(), "EXPUNGE")

    async def noop(self) -> None:
        _check(await self._require().noop(), "NOOP")
