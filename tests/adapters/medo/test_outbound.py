"""The adapter's outbound side without a hub: a document becomes a package the peer verifies,
a package nobody acknowledges fails after the timeout, a refusal fails it at once, execution
notices become MEDO notifications, and what cannot go out says why."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path

from click.testing import CliRunner

from adapters.medo.cli import medo
from adapters.medo.model import NotificationType, PackageType
from adapters.medo.peer import Peer
from envelopes.codec import new_envelope, to_bytes
from envelopes.model import Attachment, DocumentCard, DocumentKind, Kind
from envelopes.parsing import parse_xml
from hub.abc import Destination, OutboundMessage, OutcomeKind, Stage, State
from hub.execution.notices import Notice, RefusalReason, notice_element
from hub.scaffold import shipped

from .conftest import CHANCELLERY, PEER, PEER_UID, MedoPki
from .test_packages import make_adapter

CARD = DocumentCard(
    kind=DocumentKind.ORDER, title="Об утверждении плана", number="П-12", date=dt.date(2026, 12, 1)
)


def outbound(sender: str, payload: object, *, card: DocumentCard | None = CARD) -> OutboundMessage:
    header, root = new_envelope(
        sender,
        PEER,
        payload,  # type: ignore[arg-type]
        kind=Kind.REQUEST if card else Kind.NOTICE,
        attachments=[Attachment.from_bytes("a", "План.pdf", "application/pdf", b"%PDF plan")],
        created=dt.datetime.now(dt.UTC),
        card=card,
    )
    return OutboundMessage(
        message_id=str(header.message_id),
        sender=sender,
        recipient=PEER,
        message_type=header.message_type,
        kind=header.kind.value,
        correlation_id=None,
        body=to_bytes(root),
        destination=Destination("medo", PEER_UID),
    )


def memo() -> object:
    return parse_xml((shipped("xsd") / "examples" / "memo.xml").read_bytes())


async def test_unacknowledged_and_refused_packages_fail_with_a_reason(
    tmp_path: Path, medo_pki: MedoPki, peer: Peer
) -> None:
    adapter, context = make_adapter(tmp_path, medo_pki)
    silent, refused = outbound("dept.finance", memo()), outbound("dept.land", memo())
    for message in (silent, refused):
        outcome = await adapter.deliver(message)
        assert outcome.kind == OutcomeKind.DELIVERED, outcome.detail
    packages = {p.uid: p for p in peer.take(acknowledge=False)}
    assert len(packages) == 2 and outcome.reference in packages  # both out, signatures verified
    assert all(p.passport is not None and p.passport.kind == "Приказ" for p in packages.values())
    by_message = {
        json.loads((tmp_path / "state" / "pending" / f"{u}.json").read_text())["message"]: u
        for u in packages
    }
    peer.acknowledge(packages[by_message[refused.message_id]], False, "Ошибка адресации")
    await adapter.poll_once()
    assert context.notified == [
        (
            refused.message_id,
            State.FAILED,
            [("medo_not_accepted", context.notified[0][2][0][1])],
        )
    ]
    assert "Ошибка адресации" in context.notified[0][2][0][1]
    assert await adapter.check_timeouts() == 0  # the silent one is not late yet
    pending = tmp_path / "state" / "pending" / f"{by_message[silent.message_id]}.json"
    data = json.loads(pending.read_text())
    data["sent"] = time.time() - 72 * 3600 - 1  # three days ago
    pending.write_text(json.dumps(data))
    assert await adapter.check_timeouts() == 1
    message_id, state, reasons = context.notified[-1]
    assert (message_id, state) == (silent.message_id, State.FAILED)
    assert "not acknowledged within 72 h" in reasons[0][1]
    assert not pending.exists()


async def test_execution_notices_become_notifications(
    tmp_path: Path, medo_pki: MedoPki, peer: Peer
) -> None:
    adapter, context = make_adapter(tmp_path, medo_pki)
    document = "7f000000-0000-4000-8000-000000000001"
    await context.remember(
        "6a000000-0000-4000-8000-000000000002", document, '{"dir": "in", "from": "x"}'
    )
    at = dt.datetime(2026, 12, 6, 10, 0, tzinfo=dt.UTC)
    notices = [
        Notice(document, Stage.REGISTRATION_REFUSED, CHANCELLERY, at,
               reason=RefusalReason.WRONG_ADDRESSEE, text="не наш вопрос"),
        Notice(document, Stage.EXECUTOR_ASSIGNED, CHANCELLERY, at,
               assignment="a1", executor="Кузнецова Е.В."),
        Notice(document, Stage.DEADLINE_CHANGED, CHANCELLERY, at, assignment="a1",
               old_deadline=dt.date(2026, 12, 10), deadline=dt.date(2026, 12, 20), text="просьба"),
    ]  # fmt: skip
    for notice in notices:
        outcome = await adapter.deliver(outbound(CHANCELLERY, notice_element(notice), card=None))
        assert outcome.kind == OutcomeKind.DELIVERED, outcome.detail
    assert "MEDO has no notification for DeadlineChanged" in outcome.detail
    got = sorted(
        (p.message.notification for p in peer.take(acknowledge=False)),  # type: ignore[misc]
        key=lambda n: n.type.value,  # type: ignore[union-attr]
    )
    assert [n.type for n in got] == [  # type: ignore[union-attr]
        NotificationType.EXECUTOR_ASSIGNED,
        NotificationType.REFUSED,
    ]
    assert got[0].executor == "Кузнецова Е.В."  # type: ignore[union-attr]
    assert got[1].reason == "Ошибка адресации: не наш вопрос"  # type: ignore[union-attr]
    assert {n.document_uid for n in got} == {"6a000000-0000-4000-8000-000000000002"}  # type: ignore[union-attr]
    stray = Notice("7f000000-0000-4000-8000-000000000009", Stage.REGISTERED, CHANCELLERY, at,
                   number="1", date=dt.date(2026, 12, 6))  # fmt: skip
    outcome = await adapter.deliver(outbound(CHANCELLERY, notice_element(stray), card=None))
    assert outcome.kind == OutcomeKind.PERMANENT and "did not come by MEDO" in outcome.detail
    no_card = await adapter.deliver(outbound("dept.finance", memo(), card=None))
    assert no_card.kind == OutcomeKind.PERMANENT and "document card" in no_card.detail


def test_medo_check_explains_a_package(tmp_path: Path, medo_pki: MedoPki, peer: Peer) -> None:
    uid = peer.send_document(
        "11111111-2222-4333-8444-555555555555", {"Письмо.pdf": b"%PDF"}, title="Тема", number="1"
    )
    folder = tmp_path / "in" / uid
    runner = CliRunner()
    good = runner.invoke(medo, ["check", str(folder), "--trust", str(medo_pki.ca)])
    assert good.exit_code == 0, good.output
    assert "верна / valid" in good.output and "Тема" in good.output
    (folder / "envelope.ini").write_bytes(b"[nothing]\r\n")
    bad = runner.invoke(medo, ["check", str(folder)])
    assert bad.exit_code == 1
    assert "has no [ПИСЬМО КП ПС СЗИ] section" in bad.output
    assert PackageType.DOCUMENT.value not in bad.output


def _by_reference(content: bytes) -> OutboundMessage:
    import hashlib

    from envelopes.model import AttachmentRef, ContentReference

    ref = AttachmentRef(
        id="a", file_name="Чертёж.pdf", media_type="application/pdf", size=len(content),
        sha256=hashlib.sha256(content).digest(),
    )  # fmt: skip
    header, root = new_envelope(
        "dept.finance", PEER, memo(),  # type: ignore[arg-type]
        created=dt.datetime.now(dt.UTC), card=CARD, references=[ContentReference.for_ref(ref)],
    )  # fmt: skip
    return OutboundMessage(
        message_id=str(header.message_id), sender="dept.finance", recipient=PEER,
        message_type=header.message_type, kind="request", correlation_id=None,
        body=to_bytes(root), destination=Destination("medo", PEER_UID),
    )  # fmt: skip


async def test_attachments_by_reference_go_into_the_container(
    tmp_path: Path, medo_pki: MedoPki, peer: Peer
) -> None:
    import hashlib

    content = b"%PDF drawing " + os.urandom(12_000)
    adapter, context = make_adapter(tmp_path, medo_pki)
    context.blobs[hashlib.sha256(content).hexdigest()] = content
    outcome = await adapter.deliver(_by_reference(content))
    assert outcome.kind == OutcomeKind.DELIVERED, outcome.detail
    taken = peer.take(acknowledge=False)
    assert peer.refused == [] and len(taken) == 1
    assert taken[0].documents["Чертёж.pdf"] == content  # signed and verified by the peer
    # over the package limit: refused for good, naming the sizes
    adapter.settings = adapter.settings.model_copy(update={"max_package_bytes": 5000})
    refused = await adapter.deliver(_by_reference(content))
    assert refused.kind == OutcomeKind.PERMANENT and "max_package_bytes" in refused.detail
