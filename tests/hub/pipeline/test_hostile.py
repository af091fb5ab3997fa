"""Envelopes the fuzzers found crashing the pipeline (issue 20) are refused, not retried.

Each is rejected at once with its cause on record (``hub trace``) and a signed negative receipt
in the sender's inbox, through the same path as every other refusal; nothing is dead-lettered.
On both transports.
"""

from __future__ import annotations

from pathlib import Path

from envelopes.parsing import parse_xml
from envelopes.pki import load_certificate, load_private_key
from envelopes.signatures import verify_sender
from hub.pipeline.receipts import read_receipt
from tests.hub.harness import Deployment, running_hub, submit, wait_for_state
from tests.hub.pipeline.test_pipeline import take_inbox
from tests.support.hostile import undecodable_subject, with_certificate


async def test_hostile_envelopes_are_rejected_with_their_cause_and_a_signed_receipt(
    deployment: Deployment, tmp_path: Path
) -> None:
    pki = deployment.pki
    cert = undecodable_subject(
        "dept.finance",
        load_private_key(pki / "ca.key.pem"),
        load_certificate(pki / "ca.pem"),
        load_private_key(pki / "dept.finance.key.pem").public_key(),  # type: ignore[arg-type]
        resign=False,
    )
    cases: dict[str, tuple[bytes, str]] = {}
    mid, body = deployment.envelope()
    cases[mid] = (with_certificate(body, cert), "undecodable subject")
    mid, body = deployment.envelope()
    cases[mid] = (body.replace(b"<hub:Header", b'<hub:Header xmlns:x="rel"', 1), "relative URI")
    mid, body = deployment.envelope()
    cases[mid] = (body.replace(b"<ds:SignedInfo", b'<ds:SignedInfo xmlns:x="r"', 1), "relative")
    mid, body = deployment.envelope()
    attributes = " ".join(f'a{i}="x"' for i in range(2_000)).encode()
    cases[mid] = (body.replace(b"<hub:Header", b"<hub:Header " + attributes, 1), "a0")
    async with running_hub(deployment) as hub:
        for hostile, _ in cases.values():
            await submit(hub, hostile)
        rows = {}
        for message_id in cases:
            await wait_for_state(hub.store, message_id, {"rejected"})
            rows[message_id] = await hub.store.get_message(message_id)
        receipts = await take_inbox(
            deployment, "dept.finance", tmp_path / "r", expect=len(cases), wait=10
        )
        dead = await hub.store.count_dead_letters()
    for message_id, (_, cause) in cases.items():
        row = rows[message_id]
        assert row is not None and cause in (row.reason or ""), (message_id, row)
    answered = {}
    for item in receipts:
        verified = verify_sender(parse_xml(item.path.read_bytes()), deployment.trust())
        facts = read_receipt(verified.envelope.payload)
        answered[str(facts["message_id"])] = facts["state"]
    assert answered == {message_id: "rejected" for message_id in cases}
    assert not dead
