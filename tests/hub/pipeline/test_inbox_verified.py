"""``hub inbox`` shows what the signatures cover, not the document's text (issue 20).

Comments are outside what exclusive C14N digests, so anyone on the way can put one inside a
signed element without breaking the signature: ``<Sender>dept.<!-- -->culture</Sender>``
still verifies, while the header read as text (before the fix) said ``dept.``. Items are
now described from the verified content; an item whose signature does not verify is said to.
"""

from __future__ import annotations

from pathlib import Path

from hub.ops import inbox as ops_inbox
from hub.ops.delivered import DeliveredReader
from tests.hub.harness import Deployment, running_hub, submit, wait_for_state


async def test_the_inbox_shows_the_verified_header_only(
    deployment: Deployment, tmp_path: Path
) -> None:
    message_id, body = deployment.envelope(sender="dept.finance", recipient="dept.culture")
    head, sep, tail = message_id.partition("-")
    commented = body.replace(
        b"<hub:Sender>dept.finance</hub:Sender>",
        b"<hub:Sender>dept.<!-- not signed -->finance</hub:Sender>",
        1,
    ).replace(message_id.encode(), f"{head}<!---->{sep}{tail}".encode(), 1)
    assert commented != body
    async with running_hub(deployment) as hub:
        await submit(hub, commented)
        await wait_for_state(hub.store, message_id, {"delivered", "acknowledged"})
        items = await ops_inbox.inbox(deployment.config, "dept.culture", tmp_path / "in", None, 3)
    (item,) = items
    assert (item.message_id, item.sender, item.kind, item.problem) == (
        message_id,
        "dept.finance",
        "request",
        None,
    )


def test_an_item_that_does_not_verify_is_said_to(deployment: Deployment) -> None:
    reader = DeliveredReader.for_config(deployment.config)
    _, body = deployment.envelope(sender="dept.finance", recipient="dept.culture")
    facts = reader.facts(body)  # signed by its sender, not by the hub: not a hub delivery
    assert facts.problem is not None and "not by the hub" in facts.problem
    assert facts.sender == "-"
    tampered = reader.facts(body.replace(b"dept.culture", b"dept.land"))
    assert tampered.problem is not None and tampered.problem.startswith("signature_invalid")
