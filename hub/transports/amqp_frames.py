"""AMQP 0-9-1 frames of one ``basic.publish``, encoded straight to bytes.

The hub publishes two messages per document with the same handful of properties (string
headers, persistent, a content type, a MessageId, a user id, a priority). pamqp encodes them
through a generic, per-field, type-dispatching marshaller that took ~40 % of the event loop's
time per publish; these ~40 lines write exactly the bytes pamqp writes for those properties
(tests/hub/transports/test_amqp_frames.py holds the two equal, byte for byte), in a few
``struct.pack`` calls. Anything else (a header value that is not a string) is a ``TypeError``:
the hub never sends one.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

__all__ = ["publish_frames"]

FRAME_END = b"\xce"
_FRAME = struct.Struct(">BHI")  # type, channel, payload size
_METHOD, _HEADER, _BODY = 1, 2, 3
_BASIC_PUBLISH = struct.Struct(">HHH")  # class 60, method 40, reserved (ticket) 0
_CONTENT = struct.Struct(">HHQH")  # class 60, weight 0, body size, property flags
_LONG = struct.Struct(">I")

# Basic's property flags, in the order their values follow the flags
_CONTENT_TYPE = 1 << 15
_HEADERS = 1 << 13
_DELIVERY_MODE = 1 << 12
_PRIORITY = 1 << 11
_MESSAGE_ID = 1 << 7
_USER_ID = 1 << 4


def _short(value: str) -> bytes:
    data = value.encode()
    if len(data) > 255:
        raise ValueError(f"AMQP short string over 255 bytes: {value[:40]!r}…")
    return bytes((len(data),)) + data


def _table(headers: Mapping[str, str]) -> bytes:
    parts = []
    for key, value in sorted(headers.items()):  # as pamqp writes them
        if not isinstance(value, str):
            raise TypeError(f"header {key!r}: only string values are encoded here")
        name = key.encode()
        if len(name) > 128:  # pamqp would cut it; the hub never names one so
            raise ValueError(f"AMQP header name over 128 bytes: {key[:40]!r}…")
        data = value.encode()
        parts.append(bytes((len(name),)) + name + b"S" + _LONG.pack(len(data)) + data)
    entries = b"".join(parts)
    return _LONG.pack(len(entries)) + entries


def publish_frames(
    channel: int,
    exchange: str,
    routing_key: str,
    body: bytes,
    *,
    max_content: int,
    headers: Mapping[str, str],
    content_type: str | None = None,
    delivery_mode: int | None = None,
    priority: int | None = None,
    message_id: str | None = None,
    user_id: str | None = None,
    mandatory: bool = False,
) -> bytes:
    """The method, content header and body frames of a ``basic.publish`` on ``channel``
    (body frames of at most ``max_content`` bytes: the connection's frame_max less 8)."""
    method = (
        _BASIC_PUBLISH.pack(60, 40, 0)
        + _short(exchange)
        + _short(routing_key)
        + (b"\x01" if mandatory else b"\x00")
    )
    flags = _HEADERS
    values = []
    if content_type:
        flags |= _CONTENT_TYPE
        values.append(_short(content_type))
    values.append(_table(headers))
    if delivery_mode is not None:
        flags |= _DELIVERY_MODE
        values.append(bytes((delivery_mode,)))
    if priority is not None:
        flags |= _PRIORITY
        values.append(bytes((priority,)))
    if message_id:
        flags |= _MESSAGE_ID
        values.append(_short(message_id))
    if user_id:
        flags |= _USER_ID
        values.append(_short(user_id))
    header = _CONTENT.pack(60, 0, len(body), flags) + b"".join(values)
    frames = [
        _FRAME.pack(_METHOD, channel, len(method)), method, FRAME_END,
        _FRAME.pack(_HEADER, channel, len(header)), header, FRAME_END,
    ]  # fmt: skip
    for start in range(0, len(body), max_content):
        chunk = body[start : start + max_content]
        frames += [_FRAME.pack(_BODY, channel, len(chunk)), chunk, FRAME_END]
    return b"".join(frames)
