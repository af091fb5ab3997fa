"""SMEV's file storage (adapters/smev/files.py): large attachments over FTP to and from the
simulator's pyftpdlib storage — byte-identical, into blobs, and the named failures."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from lxml import etree

from adapters.smev.adapter import SmevAdapter
from adapters.smev.crypto.xmldsig import XmlSigner
from adapters.smev.errors import FileMismatch, FileMissing, FileStoreUnavailable
from adapters.smev.files import fetch_files
from adapters.smev.protocol import messages as sm
from adapters.smev.settings import SmevSettings
from adapters.smev.simulator import SmevSimulator
from envelopes.codec import new_envelope, parse_envelope, to_bytes
from envelopes.model import AttachmentRef, ContentReference
from hub.abc import Destination, OutboundMessage, OutcomeKind, State
from hub.testing import FakeAdapterContext

from .conftest import EXAMPLES, EXTRACT_RESPONSE

B = sm.BASIC_NS


def _answer(content: etree._Element, message_type: str) -> etree._Element:
    """The simulated agency answers every request (and echoes its files)."""
    return etree.fromstring(f'<r:ExtractResponse xmlns:r="{EXTRACT_RESPONSE[1:].split("}")[0]}"/>')


@dataclass
class Setup:
    sim: SmevSimulator
    adapter: SmevAdapter
    context: FakeAdapterContext


@pytest.fixture
async def make(signer: XmlSigner) -> AsyncIterator[Any]:
    made: list[Setup] = []

    async def start(*, responder: bool = True, **overrides: Any) -> Setup:
        sim = SmevSimulator(
            file_storage=True,
            responder=_answer if responder else None,
            emit_statuses=False,
            mnemonics={"hub-is": "HUB01"},
        )
        await sim.start()
        store = sim.file_store
        assert store is not None
        values: dict[str, Any] = {
            "url": sim.url, "mnemonic": "HUB01", "cert": "unused.pem", "key": "unused.key.pem",
            "poll_responses": False, "poll_requests": False, "request_timeout": 5.0,
            "fs_host": store.host, "fs_port": store.port, "fs_user": store.user,
            "fs_password": store.password, "fs_threshold": 1000, "fs_timeout": 5.0,
        }  # fmt: skip
        values.update(overrides)
        adapter = SmevAdapter(SmevSettings(**values), signer)
        context = FakeAdapterContext()
        await adapter.start(context)
        setup = Setup(sim, adapter, context)
        made.append(setup)
        return setup

    yield start
    for setup in made:
        await setup.adapter.aclose()
        await setup.sim.stop()


def _message(
    context: FakeAdapterContext, content: bytes, name: str = "plan.pdf"
) -> OutboundMessage:
    digest = hashlib.sha256(content)
    context.blobs[digest.hexdigest()] = content
    ref = AttachmentRef(
        id="att-plan", file_name=name, media_type="application/pdf", size=len(content),
        sha256=digest.digest(),
    )  # fmt: skip
    payload = etree.parse(str(EXAMPLES / "extract-request.xml")).getroot()
    header, root = new_envelope(
        "dept.land", "agency.rosreestr", payload, references=[ContentReference.for_ref(ref)]
    )
    return OutboundMessage(
        message_id=str(header.message_id), sender="dept.land", recipient="agency.rosreestr",
        message_type=header.message_type, kind="request", correlation_id=None,
        body=to_bytes(root), destination=Destination("smev", "ROSREESTR"),
    )  # fmt: skip


async def test_a_large_attachment_goes_to_the_file_storage_byte_identical(make: Any) -> None:
    setup = await make(responder=False)
    content = os.urandom(300_000)
    outcome = await setup.adapter.deliver(_message(setup.context, content, "план участка.pdf"))
    assert outcome.kind == OutcomeKind.DELIVERED, outcome
    sent = setup.sim.sent_requests[-1]
    assert sent.attachments == {}  # not inline
    (stored,) = sent.files
    assert stored.path.read_bytes() == content
    assert stored.file_name.endswith(".pdf") and "/" not in stored.file_name
    assert base64.b64decode(stored.hash) == hashlib.sha256(content).digest()
    # small ones still go inline (MTOM)
    small = b"%PDF small"
    assert (await setup.adapter.deliver(_message(setup.context, small))).kind == "delivered"
    assert setup.sim.sent_requests[-1].attachments == {"att-plan": small}
    assert setup.sim.sent_requests[-1].files == ()


async def test_an_answer_with_a_file_becomes_an_envelope_referring_to_a_blob(make: Any) -> None:
    setup = await make()
    content = os.urandom(50_000)
    assert (await setup.adapter.deliver(_message(setup.context, content))).kind == "delivered"
    await setup.sim.wait_idle()
    assert await setup.adapter.poll_responses()
    (submitted,) = setup.context.submitted
    envelope = parse_envelope(submitted.body)
    root = envelope.root
    assert root is not None
    uris = [e.get("Uri") for e in root.iter() if etree.QName(e).localname == "Reference"]
    digest = hashlib.sha256(content).hexdigest()
    assert uris == [f"blob:sha256:{digest}"]
    assert setup.context.blobs[digest] == content
    assert setup.context.blob_owners[digest] == {"agency.simagency"}
    assert any("1 files fetched" in detail for _, _, detail in setup.context.events)


async def test_a_missing_file_fails_the_request_for_good(make: Any) -> None:
    setup = await make()
    assert (await setup.adapter.deliver(_message(setup.context, os.urandom(5000)))).kind == (
        "delivered"
    )
    await setup.sim.wait_idle()
    store = setup.sim.file_store
    assert store is not None
    original = setup.sim.sent_requests[-1].files[0].uuid
    for folder in store.root.iterdir():  # the echoed copy disappears from the storage
        if folder.name != original:
            shutil.rmtree(folder)
    assert await setup.adapter.poll_responses()
    assert setup.context.submitted == []
    ((_, state, reasons),) = setup.context.notified
    assert state == State.FAILED and reasons[0][0] == "smev-fs-missing"
    assert setup.sim.acks and setup.sim.acks[-1][1] is True  # taken: it will not come again


async def test_the_storage_down_is_transient_both_ways(make: Any) -> None:
    setup = await make()
    assert (await setup.adapter.deliver(_message(setup.context, os.urandom(5000)))).kind == (
        "delivered"
    )
    await setup.sim.wait_idle()
    store = setup.sim.file_store
    assert store is not None
    await asyncio.to_thread(store.stop)
    with pytest.raises(FileStoreUnavailable):  # the poll loop backs off; no Ack
        await setup.adapter.poll_responses()
    assert setup.sim.acks == [] and setup.context.submitted == []
    outcome = await setup.adapter.deliver(_message(setup.context, os.urandom(5000)))
    assert outcome.kind == OutcomeKind.TRANSIENT and "smev-fs-unavailable" in outcome.detail


async def test_a_hash_smev_does_not_find_is_refused_for_good(make: Any) -> None:
    setup = await make(responder=False, fs_hash="streebog256")  # the simulator checks SHA-256
    outcome = await setup.adapter.deliver(_message(setup.context, os.urandom(2000)))
    assert outcome.kind == OutcomeKind.PERMANENT and "InvalidContent" in outcome.detail


async def test_a_blob_that_is_not_the_signed_content_is_not_sent(make: Any) -> None:
    setup = await make(responder=False)
    message = _message(setup.context, os.urandom(5000))
    digest = next(iter(setup.context.blobs))
    setup.context.blobs[digest] = os.urandom(5000)  # the store holds other bytes
    outcome = await setup.adapter.deliver(message)
    assert outcome.kind == OutcomeKind.PERMANENT and "smev-fs-mismatch" in outcome.detail
    assert setup.sim.sent_requests == []


async def test_fetching_checks_the_hash_and_keeps_nothing_else(make: Any) -> None:
    setup = await make(responder=False)
    store = setup.sim.file_store
    assert store is not None
    (store.root / "u1").mkdir()
    (store.root / "u1" / "a.bin").write_bytes(b"x" * 3000)
    wrong = base64.b64encode(hashlib.sha256(b"y").digest()).decode()
    item = sm.FileAttachment("u1", store.user, store.password, "a.bin", wrong)
    settings = setup.adapter.settings
    with pytest.raises(FileMismatch) as mismatch:
        await fetch_files([item], setup.context, settings, "agency.x")
    assert mismatch.value.code == "smev-fs-mismatch" and not mismatch.value.transient
    assert setup.context.blobs == {}
    gone = sm.FileAttachment("u2", store.user, store.password, "a.bin")
    with pytest.raises(FileMissing) as missing:
        await fetch_files([gone], setup.context, settings, "agency.x")
    assert missing.value.code == "smev-fs-missing"
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    down = SmevSettings(**{**settings.model_dump(), "fs_port": port})
    with pytest.raises(FileStoreUnavailable) as unavailable:
        await fetch_files([gone], setup.context, down, "agency.x")
    assert unavailable.value.transient
