"""End to end on each transport: a city letter goes to the ministry as a MEDO package, is
acknowledged, registered, assigned and answered; a ministry's letter comes in, reaches the
chancellery, and its registration goes back as a MEDO notification."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from adapters.medo.model import NotificationType, PackageType
from adapters.medo.peer import Peer
from envelopes.codec import new_envelope, parse_envelope, to_bytes
from envelopes.model import Kind
from envelopes.signatures import Signer
from hub.abc import Stage, State
from hub.execution.notices import Notice, notice_element
from hub.ops.inbox import InboxItem, take
from hub.pipeline.hub import Hub
from hub.queues import INBOUND_QUEUE

from .conftest import CHANCELLERY, HUB_UID, PEER, MedoPki
from .deployment import config_of, letter, make_medo_deployment, until


@contextlib.asynccontextmanager
async def running(path: Path) -> AsyncIterator[Hub]:
    hub = Hub(config_of(path))
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


async def states(hub: Hub, message_id: str) -> list[tuple[str, str]]:
    return [(e.state, e.detail) for e in await hub.store.timeline(message_id)]


async def has(hub: Hub, message_id: str, state: str, text: str = "") -> bool:
    return any(s == state and text in d for s, d in await states(hub, message_id))


async def received(peer: Peer, kind: PackageType) -> list[object]:
    for _ in range(400):
        got = [p for p in peer.take() if p.message.type == kind]
        if got:
            return got
        await asyncio.sleep(0.05)
    raise AssertionError(f"the peer received no {kind.value}")


async def test_round_trip_through_the_peer(
    tmp_path: Path, medo_pki: MedoPki, peer: Peer, broker_url: str
) -> None:
    directory = tmp_path / "deploy"
    path = make_medo_deployment(directory, medo_pki, broker_url)
    peer.inbox, peer.outbox = directory / "medo" / "out", directory / "medo" / "in"
    async with running(path) as hub:
        # ---- out: the city's letter becomes a signed 2.7.1 package the ministry accepts
        message_id, body = letter(directory)
        await hub.transport.publish(INBOUND_QUEUE, body, {"source": "test"})
        (package,) = await received(peer, PackageType.DOCUMENT)  # verified by the peer
        assert package.passport is not None
        assert package.passport.number == "01-12/345"
        assert package.passport.annotation == "О направлении сведений о бюджете"
        assert "Письмо в министерство.pdf" in package.signers
        await until(lambda: has(hub, message_id, State.ACKNOWLEDGED, "medo:"), "the MEDO ack")
        # ---- the ministry registers, assigns and answers; each is a stage on our timeline
        peer.notify(package, NotificationType.REGISTERED, number="ВХ-77", date="2026-12-07")
        peer.notify(package, NotificationType.EXECUTOR_ASSIGNED, executor="Сидорова Анна")
        answer_uid = peer.answer(package, {"Ответ.pdf": b"%PDF answer"}, "Ответ на письмо")
        await until(lambda: has(hub, message_id, Stage.EXECUTED, "Доклад направлен"), "report")
        await until(lambda: has(hub, message_id, Stage.REGISTERED, "№ ВХ-77 от 07.12.2026"), "reg")
        await until(lambda: has(hub, message_id, Stage.EXECUTOR_ASSIGNED, "Сидорова"), "executor")
        document = await hub.store.document(message_id)
        assert document is not None and document.state.stage == Stage.EXECUTED  # in order
        inbox = directory / "inbox"
        answers: list[InboxItem] = []
        for _ in range(100):
            answers += await take(hub.store, hub.transport, "dept.finance", inbox, None, 0.1)
            if any(a.kind == Kind.RESPONSE for a in answers):
                break
        (answer,) = [a for a in answers if a.kind == Kind.RESPONSE]
        envelope = parse_envelope(answer.path.read_bytes())
        assert envelope.header.sender == PEER
        assert str(envelope.header.correlation_id) == message_id  # answers our letter
        assert any(a.ref.file_name == "Ответ.pdf" for a in envelope.attachments)
        acks = await received(peer, PackageType.ACKNOWLEDGMENT)  # the hub acknowledged them
        assert {a.message.acknowledgment.uid for a in acks} >= {answer_uid}  # type: ignore[attr-defined]

        # ---- in: the ministry's letter reaches the chancellery; its registration goes back
        incoming = peer.send_document(
            HUB_UID,
            {"Запрос сведений.pdf": b"%PDF q"},
            title="Запрос сведений",
            number="12-3",
            dialect="2.x",  # the answer above came in 2.7.1; this one in the older dialect
        )
        taken: list[InboxItem] = []
        for _ in range(100):
            taken += await take(hub.store, hub.transport, CHANCELLERY, inbox, None, 0.1)
            if taken:
                break
        (document,) = taken
        card = parse_envelope(document.path.read_bytes()).card
        assert card is not None and card.number == "12-3" and card.title == "Запрос сведений"
        notice = Notice(
            document.message_id,
            Stage.REGISTERED,
            CHANCELLERY,
            dt.datetime.now(dt.UTC),
            number="ВХ-2026/15",
            date=dt.date(2026, 12, 6),
            journal="incoming",
        )
        _, root = new_envelope(
            CHANCELLERY,
            PEER,
            notice_element(notice),
            kind=Kind.NOTICE,
            correlation_id=uuid.UUID(document.message_id),
            created=dt.datetime.now(dt.UTC),
        )
        pki = directory / "pki"
        Signer.from_files(
            str(pki / f"{CHANCELLERY}.key.pem"), str(pki / f"{CHANCELLERY}.pem")
        ).sign(root)
        await hub.transport.publish(INBOUND_QUEUE, to_bytes(root), {"source": "test"})
        (note,) = await received(peer, PackageType.NOTIFICATION)
        notification = note.message.notification  # type: ignore[attr-defined]
        assert notification.type == NotificationType.REGISTERED
        assert notification.document_uid == incoming
        assert notification.number == "ВХ-2026/15"
        assert list((directory / "medo" / "quarantine").iterdir()) == []
