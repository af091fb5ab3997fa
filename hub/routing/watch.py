"""Hot reload of the routing rules: a file watch, and reload requests (``hub routes reload``).

The watcher polls the rules folder about once a second. When the content hash of the rule files
(and of the certificate files they name) differs from what the rules in force were built from
and from what it last acted on, and stays the same for a short settling time (an editor may
write a file in several steps), it calls the reload callback it was given: the hub's
``reload_rules``, which loads the new set, swaps it in atomically if it is valid, or refuses it
(logged, counted in ``hub_rules_reloads_total{result="refused"}``) and keeps the rules in force.
A refused state is not tried again until the files change again. The hub builds its watcher
when it starts; this module knows nothing of the hub but those callbacks.

Every node watches the folder it is configured with, so a change to a folder the nodes share
(or to each node's copy) reaches each of them. ``hub routes reload`` asks every node alive
through the store (``ReloadRequests``; hub/pipeline/presence.py): each node's watcher takes the
request at its next look, reloads, and answers ``{id, result, version, previous, error, at}``
(result: applied | unchanged | refused), which the command waits for, node by node.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from hub.routing.language import RulesError
from hub.routing.loader import content_digest, load_rules, rule_files

log = logging.getLogger("hub.rules")

POLL_INTERVAL = 1.0  # seconds between two looks at the folder
SETTLE = 0.2  # a change must stay unchanged this long before it is loaded


def source_digest(directory: Path, extra: Iterable[str] = ()) -> str:
    """What the rules were built from, as ``RuleSet.source_digest`` computes it when loading."""
    parts: list[tuple[str, bytes]] = []
    for path in rule_files(directory) if directory.is_dir() else []:
        try:
            parts.append((path.name, path.read_bytes()))
        except OSError:
            parts.append((path.name, b"\0unreadable"))
    for name in sorted(extra):
        try:
            parts.append((name, Path(name).read_bytes()))
        except OSError:
            parts.append((name, b"\0missing"))
    return content_digest(parts)


RACY = 2.0  # seconds: a file changed this recently may change again within its timestamp's grain


def source_stats(directory: Path, extra: Iterable[str] = ()) -> tuple[object, ...] | None:
    """What changes when a rule file or a certificate it names is written, renamed or removed
    (name, size, times, inode); None when it cannot be trusted yet: something changed within
    ``RACY`` seconds, so a second write in the same timestamp tick would go unseen (as git
    treats "racily clean" files)."""
    paths = [*(rule_files(directory) if directory.is_dir() else []), *map(Path, sorted(extra))]
    seen: list[object] = []
    newest = 0
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            seen.append((str(path), None))
            continue
        seen.append((str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
        newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)
    if newest >= (time.time() - RACY) * 1e9:
        return None
    return tuple(seen)


class ReloadRequests(Protocol):
    """Where reload requests come from and their answers go."""

    async def take(self) -> str | None:
        """The id of a request not answered yet, if any."""

    async def answer(self, request_id: str, answer: dict[str, Any]) -> None:
        """Answer it (it is not taken again)."""


class RulesWatcher:
    """Polls the rules folder and the reload requests; reloads through a callback."""

    def __init__(
        self,
        directory: Path,
        reload: Callable[[], Awaitable[bool]],
        version: Callable[[], str],
        sources: Callable[[], Iterable[str]] = tuple,
        loaded: Callable[[], str] = str,
        *,
        requests: ReloadRequests | None = None,
        interval: float | None = None,
        settle: float | None = None,
        watch_files: bool = True,
    ) -> None:
        self.directory = directory
        self._reload = reload
        self._version = version
        self._sources = sources
        self._loaded = loaded  # source digest of the rules in force: no reload when they match
        self.requests = requests
        self.interval = POLL_INTERVAL if interval is None else interval
        self.settle = SETTLE if settle is None else settle
        self.watch_files = watch_files  # False: reload on request only
        self._seen: str | None = None  # the digest last acted on
        self._stats: tuple[object, ...] | None = None  # what the cached digest was read under
        self._digested = ""

    async def _digest(self) -> str:
        return await asyncio.to_thread(self._digest_now, tuple(self._sources()))

    def _digest_now(self, extra: tuple[str, ...]) -> str:
        """The sources' digest, read again only when their stats changed (reading and hashing
        every file every second was an idle hub's largest cost after the API's timer)."""
        stats = source_stats(self.directory, extra)
        if stats is None or stats != self._stats:
            self._digested = source_digest(self.directory, extra)
            self._stats = stats
        return self._digested

    async def _take_request(self) -> str | None:
        return None if self.requests is None else await self.requests.take()

    async def _apply(self) -> tuple[str, str, str, str | None]:
        """Reload: (result, version, previous version, error)."""
        previous = self._version()
        ok = await self._reload()
        version = self._version()
        if ok:
            return ("applied" if version != previous else "unchanged"), version, previous, None
        try:
            await asyncio.to_thread(load_rules, self.directory)
            error = "refused (see the hub's log)"
        except RulesError as exc:
            error = str(exc)
        return "refused", version, previous, error

    async def poll(self) -> str | None:
        """One look: reload if the files changed or a reload was asked for; the result if any."""
        request = await self._take_request()
        outcome: tuple[str, str, str, str | None] | None = None
        digest = await self._digest() if self.watch_files else None
        if digest is not None and digest != self._seen and digest != self._loaded():
            if self.settle > 0:
                await asyncio.sleep(self.settle)
                if await self._digest() != digest:
                    return None if request is None else await self._answer(request, None)
            self._seen = digest
            outcome = await self._apply()
            log.info("rules folder changed: %s (rules %s)", outcome[0], outcome[1])
        elif digest is not None:
            self._seen = digest
        return await self._answer(request, outcome)

    async def _answer(
        self, request: str | None, outcome: tuple[str, str, str, str | None] | None
    ) -> str | None:
        """Handle a reload request, if any; the poll's result."""
        if request is not None:
            if outcome is None:
                outcome = await self._apply()
            result, version, previous, error = outcome
            answer = {
                "id": request,
                "result": result,
                "version": version,
                "previous": previous,
                "error": error,
                "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
            assert self.requests is not None
            await self.requests.answer(request, answer)
        return outcome[0] if outcome else None

    async def run(self) -> None:
        while True:
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("routing rules watch failed; trying again")
            await asyncio.sleep(self.interval)
