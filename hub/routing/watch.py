"""Hot reload of the routing rules: a file watch and reload requests from ``hub routes reload``.

The watcher polls the rules folder about once a second. When the content hash of the rule files
(and of the certificate files they name) differs from what the rules in force were built from
and from what it last acted on, and stays the same for a short settling time (an editor may
write a file in several steps), it calls the reload callback it was given: the hub's
``reload_rules``, which loads the new set, swaps it in atomically if it is valid, or refuses it
(logged, counted in ``hub_rules_reloads_total{result="refused"}``) and keeps the rules in force.
A refused state is not tried again until the files change again. The hub builds its watcher
when it starts; this module knows nothing of the hub but those callbacks.

``hub routes reload`` asks a running hub to reload now, through two files in the data folder
(the hub and the CLI share it, as they share the SQLite store):

- ``rules-reload.request``: a request id, written (atomically) by the CLI;
- ``rules-reload.response``: JSON ``{id, result, version, previous, error, at}`` written by the
  watcher once it has handled the request (result: applied | unchanged | refused).

No polling needs a new dependency, and a request works on every transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from hub.routing.language import RulesError
from hub.routing.loader import content_digest, load_rules, rule_files

log = logging.getLogger("hub.rules")

POLL_INTERVAL = 1.0  # seconds between two looks at the folder
SETTLE = 0.2  # a change must stay unchanged this long before it is loaded
REQUEST_FILE = "rules-reload.request"
RESPONSE_FILE = "rules-reload.response"


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


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def request_reload(data_dir: Path) -> str:
    """Ask the hub that uses data_dir to reload its rules; returns the request id."""
    request_id = uuid.uuid4().hex
    with contextlib.suppress(FileNotFoundError):
        (data_dir / RESPONSE_FILE).unlink()
    _write_atomically(data_dir / REQUEST_FILE, request_id + "\n")
    return request_id


def read_response(data_dir: Path, request_id: str) -> dict[str, Any] | None:
    """The hub's answer to a reload request, once it has one."""
    try:
        data = json.loads((data_dir / RESPONSE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("id") == request_id else None


def wait_for_response(data_dir: Path, request_id: str, timeout: float) -> dict[str, Any] | None:
    """Poll for the answer to a request (blocking: for the CLI); None when none came in time."""
    deadline = time.monotonic() + timeout
    while True:
        answer = read_response(data_dir, request_id)
        if answer is not None or time.monotonic() >= deadline:
            return answer
        time.sleep(0.05)


def cancel_request(data_dir: Path, request_id: str) -> None:
    """Withdraw an unanswered request (so a hub started later does not act on it)."""
    path = data_dir / REQUEST_FILE
    try:
        if path.read_text(encoding="utf-8").strip() == request_id:
            path.unlink()
    except OSError:
        pass


class RulesWatcher:
    """Polls the rules folder and the reload request file; reloads through a callback."""

    def __init__(
        self,
        directory: Path,
        reload: Callable[[], Awaitable[bool]],
        version: Callable[[], str],
        sources: Callable[[], Iterable[str]] = tuple,
        loaded: Callable[[], str] = str,
        *,
        data_dir: Path | None = None,
        interval: float | None = None,
        settle: float | None = None,
        watch_files: bool = True,
    ) -> None:
        self.directory = directory
        self._reload = reload
        self._version = version
        self._sources = sources
        self._loaded = loaded  # source digest of the rules in force: no reload when they match
        self.data_dir = data_dir
        self.interval = POLL_INTERVAL if interval is None else interval
        self.settle = SETTLE if settle is None else settle
        self.watch_files = watch_files  # False: reload on request only
        self._seen: str | None = None  # the digest last acted on

    async def _digest(self) -> str:
        return await asyncio.to_thread(source_digest, self.directory, tuple(self._sources()))

    def _take_request(self) -> str | None:
        if self.data_dir is None:
            return None
        path = self.data_dir / REQUEST_FILE
        try:
            request_id = path.read_text(encoding="utf-8").strip()
            path.unlink()
        except OSError:
            return None
        return request_id or "?"

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
        request = self._take_request()
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
            assert self.data_dir is not None
            await asyncio.to_thread(
                _write_atomically, self.data_dir / RESPONSE_FILE, json.dumps(answer) + "\n"
            )
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
