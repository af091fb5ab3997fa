"""A JSON object read member by member from a stream: a bundle's manifest lists every member
of the bundle (200,000 for 100,000 messages), and ``json.loads`` would hold all of it at once.

Only the members named as *listed* are taken apart — an object's pairs, an array's elements
handed one at a time to a callback; every other member is parsed whole (``json``'s own decoder
does all the parsing of values, so what is accepted is exactly JSON).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

_NUMBER_TAIL = re.compile(r"[0-9.eE+-]*\Z")  # what is left of the buffer could go on a number
Listed = Callable[[str | None, Any], None]  # (the pair's name, or None in an array; the value)


class _Text:
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._decode = codecs.getincrementaldecoder("utf-8")()
        self._decoder = json.JSONDecoder()
        self.buf = ""
        self.pos = 0

    def _fill(self) -> bool:
        chunk = next(self._chunks, None)
        if chunk is None:
            return False
        self.buf = self.buf[self.pos :] + self._decode.decode(chunk)
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next character that is not white space ('' at the end)."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf) or not self._fill():
                return self.buf[self.pos : self.pos + 1]

    def take(self, char: str) -> None:
        if self.peek() != char:
            raise ValueError(f"expected {char!r} at {self.pos}")
        self.pos += 1

    def value(self) -> Any:
        self.peek()
        while True:
            try:
                value, end = self._decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError:
                if self._fill():
                    continue
                raise
            # a number may go on in the next chunk ("-1500" of "-1500.0")
            if _NUMBER_TAIL.match(self.buf, end) and self._fill():
                continue
            self.pos = end
            return value


def read_object(chunks: Iterator[bytes], listed: dict[str, Listed]) -> dict[str, Any]:
    """The object's members, but those in ``listed``: their pairs or elements go to the
    callback one by one. ValueError if it is not a JSON object."""
    text = _Text(chunks)
    out: dict[str, Any] = {}
    text.take("{")
    if text.peek() == "}":
        text.pos += 1
        return out
    while True:
        key = text.value()
        if not isinstance(key, str):
            raise ValueError("a member's name is not a string")
        text.take(":")
        callback = listed.get(key)
        opening = text.peek()
        if callback is not None and opening in "{[":
            _each(text, opening, callback)
            out[key] = None
        else:
            out[key] = text.value()
        if text.peek() == ",":
            text.pos += 1
            continue
        text.take("}")
        if text.peek():
            raise ValueError("more after the object")
        return out


def _each(text: _Text, opening: str, callback: Listed) -> None:
    closing = "}" if opening == "{" else "]"
    text.take(opening)
    if text.peek() == closing:
        text.pos += 1
        return
    while True:
        name = None
        if opening == "{":
            name = text.value()
            if not isinstance(name, str):
                raise ValueError("a member's name is not a string")
            text.take(":")
        callback(name, text.value())
        if text.peek() == ",":
            text.pos += 1
            continue
        text.take(closing)
        return
