"""Structured logs: one JSON object per line (``log_json = true``) or readable text.

Every line about a message carries its id: pass ``extra={"message_id": ..., "sender": ...,
"recipient": ..., "state": ...}``.

No secret is written, whatever a message or a traceback holds: each formatted line goes
through ``redact`` — API tokens keep only their id (``hubt_<id>_…``), ``Authorization``
values, passwords in URLs and PEM private keys are cut out, and so is every value registered
with ``register_secret`` (the key passphrase). Code should not log secrets in the first place;
this is the net under it (docs/security.md).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Callable

_PATTERNS = (
    # a whole PEM private key (encrypted or not), however it got into a message
    (
        re.compile(
            r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)",
            re.S,
        ),
        "[private key redacted]",
    ),
    # API tokens: the id stays (it names the token in `hub tokens list`), the secret goes
    (re.compile(r"\b(hubt_[A-Za-z0-9]+_)[A-Za-z0-9_\-]+"), r"\1…"),
    (
        re.compile(
            r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?)"
            r"(?:(?:bearer|basic|digest|token)\s+)?[^\s\"',}]+"
        ),
        r"\1…",
    ),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{8,}"), r"\1 …"),
    # user:password@ in any URL (amqp, postgresql, http)
    (re.compile(r"(//[^/\s:@]+):[^@\s/]*@"), r"\1:…@"),
)
_SECRETS: set[str] = set()


def register_secret(value: str | bytes | None) -> None:
    """A value never to be logged (a passphrase the process read)."""
    if value:
        text = value.decode(errors="replace") if isinstance(value, bytes) else value
        if len(text) >= 4:  # shorter ones would blank out ordinary words
            _SECRETS.add(text)


def redact(text: str) -> str:
    """``text`` without the secrets it may hold."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    for secret in _SECRETS:
        text = text.replace(secret, "[redacted]")
    return text


FIELDS = ("message_id", "sender", "recipient", "state", "adapter", "destination")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "at": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                data[name] = value
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return redact(json.dumps(data, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extras = [f"{n}={getattr(record, n)}" for n in FIELDS if getattr(record, n, None)]
        return redact(base + (" " + " ".join(extras) if extras else ""))


class ClosedChannelFrames(logging.Filter):
    """One line per channel and second for aiormq's "Got frame for closed channel".

    aiormq logs an error for every frame still arriving on a channel it has closed: after the
    broker closes a consumer's channel, up to its prefetch × 3 frames, ~1,500 lines at 512. A
    bench that did not read the hub's stderr saw the hub block on that flood mid-run."""

    MESSAGE = "Got frame for closed channel %d: %r"

    def __init__(self, interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self.clock = clock
        self._last: dict[object, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != self.MESSAGE or not isinstance(record.args, tuple) or not record.args:
            return True
        channel, now = record.args[0], self.clock()
        if now - self._last.get(channel, -self.interval) < self.interval:
            return False
        self._last[channel] = now
        record.msg = self.MESSAGE + " (more frames for it within %gs are not logged)"
        record.args = (*record.args, self.interval)
        return True


def setup_logging(level: str = "INFO", as_json: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if as_json
        else TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.Formatter.converter = __import__("time").gmtime
    for noisy in ("aiormq", "aio_pika"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    frames = logging.getLogger("aiormq.connection")
    if not any(isinstance(f, ClosedChannelFrames) for f in frames.filters):
        frames.addFilter(ClosedChannelFrames())
