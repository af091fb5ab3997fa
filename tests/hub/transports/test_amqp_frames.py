"""Our ``basic.publish`` frames are the very bytes pamqp writes for the same publish."""

from __future__ import annotations

import pamqp.frame
from hypothesis import given, settings
from hypothesis import strategies as st
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from hub.transports.amqp_frames import publish_frames

short = st.text(max_size=40)
names = st.from_regex(r"[A-Za-z0-9_.:-]{0,40}", fullmatch=True)  # what pamqp lets an exchange be
optional = st.none() | st.text(min_size=0, max_size=60)


def pamqp_frames(
    channel: int, exchange: str, routing_key: str, body: bytes, max_content: int,
    mandatory: bool, **properties: object,
) -> bytes:  # fmt: skip
    frames: list[object] = [
        spec.Basic.Publish(exchange=exchange, routing_key=routing_key, mandatory=mandatory),
        ContentHeader(properties=spec.Basic.Properties(**properties), body_size=len(body)),
    ]
    frames += [ContentBody(body[i : i + max_content]) for i in range(0, len(body), max_content)]
    return b"".join(pamqp.frame.marshal(f, channel) for f in frames)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(
    channel=st.integers(1, 2047),
    exchange=names,
    routing_key=short,
    body=st.binary(max_size=700),
    max_content=st.integers(50, 300),
    mandatory=st.booleans(),
    headers=st.dictionaries(st.text(min_size=1, max_size=30), st.text(max_size=80), max_size=6),
    content_type=optional,
    delivery_mode=st.none() | st.integers(1, 2),
    priority=st.none() | st.integers(0, 9),
    message_id=optional,
    user_id=optional,
)
def test_the_same_bytes_as_pamqp(
    channel: int, exchange: str, routing_key: str, body: bytes, max_content: int,
    mandatory: bool, headers: dict[str, str], content_type: str | None,
    delivery_mode: int | None, priority: int | None, message_id: str | None,
    user_id: str | None,
) -> None:  # fmt: skip
    properties = dict(
        headers=headers, content_type=content_type, delivery_mode=delivery_mode,
        priority=priority, message_id=message_id, user_id=user_id,
    )  # fmt: skip
    ours = publish_frames(
        channel,
        exchange,
        routing_key,
        body,
        max_content=max_content,
        mandatory=mandatory,
        **properties,  # type: ignore[arg-type]
    )
    assert ours == pamqp_frames(
        channel, exchange, routing_key, body, max_content, mandatory, **properties
    )


def test_cyrillic_headers_and_a_body_split_at_the_frame_size() -> None:
    headers = {"sender": "Департамент культуры", "kind": "receipt"}
    body = "<Документ>Приказ № 15 от 15.12.2026</Документ>".encode() * 40
    ours = publish_frames(
        7, "", "inbox.dept.culture", body, max_content=131064, headers=headers,
        content_type="application/xml", delivery_mode=2, message_id="m-1", user_id="guest",
        mandatory=True,
    )  # fmt: skip
    expected = pamqp_frames(
        7, "", "inbox.dept.culture", body, 131064, True, headers=headers,
        content_type="application/xml", delivery_mode=2, message_id="m-1", user_id="guest",
    )  # fmt: skip
    assert ours == expected
    assert ours.count(b"\xce") >= 3  # method, header, body


def test_what_it_does_not_encode_is_refused_not_garbled() -> None:
    import pytest

    with pytest.raises(TypeError):
        publish_frames(1, "", "q", b"", max_content=100, headers={"n": 5})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="255"):
        publish_frames(1, "", "q" * 300, b"", max_content=100, headers={})
