"""A revoked certificate is refused by the pipeline like any other bad certificate: rejected,
on record, and answered with a signed negative receipt naming serial and revocation date."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from envelopes.pki import load_certificate, publish_crl
from hub.cli import main
from hub.config import load_config
from tests.hub.harness import Deployment, running_hub, submit, wait_for_state
from tests.hub.pipeline.test_unreadable import receipt_of, taken
from tests.support.pki_servers import folder_server


def with_crl(deployment: Deployment, url: str, on_unavailable: str = "reject") -> None:
    text = deployment.config_path.read_text()
    text = text.replace("crl_urls = []", f'crl_urls = ["{url}"]')
    text = re.sub(r'on_unavailable = "\w+"', f'on_unavailable = "{on_unavailable}"', text)
    deployment.config_path.write_text(text)
    deployment.config = load_config(deployment.config_path)


async def test_a_revoked_sender_is_rejected_with_a_signed_receipt(
    deployment: Deployment, tmp_path: Path
) -> None:
    pki = deployment.pki
    publish_crl(pki)
    with folder_server(pki) as server:
        with_crl(deployment, f"{server.url}/ca.crl")
        serial = f"{load_certificate(pki / 'dept.land.pem').serial_number:x}"
        result = CliRunner().invoke(main, ["keys", "revoke", "dept.land", "--out", str(pki)])
        assert result.exit_code == 0, result.output
        good_id, good = deployment.envelope("dept.finance", "dept.culture")
        bad_id, bad = deployment.envelope("dept.land", "dept.culture")
        async with running_hub(deployment) as hub:
            await submit(hub, good)
            await submit(hub, bad)
            assert await wait_for_state(hub.store, bad_id, {"rejected"}) == "rejected"
            assert await wait_for_state(hub.store, good_id, {"delivered"}) == "delivered"
            row = await hub.store.get_message(bad_id)
            (answer,) = await taken(hub, "dept.land", 1)
            delivered = await taken(hub, "dept.culture", 1)
    assert row is not None and row.reason is not None
    assert row.reason.startswith("certificate_revoked")
    receipt, header = receipt_of(deployment, answer)
    assert receipt["state"] == "rejected" and header.recipient == "dept.land"
    ((code, text),) = receipt["reasons"]  # type: ignore[misc]
    assert code == "certificate_revoked"
    assert f"serial {serial}" in text and "was revoked on 20" in text
    assert len(delivered) == 1  # the good one went through, revocation checked and passed


async def test_no_crl_fails_closed_by_default(deployment: Deployment) -> None:
    with folder_server(deployment.pki) as server:
        server.down = True
        with_crl(deployment, f"{server.url}/ca.crl")
        message_id, body = deployment.envelope("dept.finance", "dept.culture")
        async with running_hub(deployment) as hub:
            await submit(hub, body)
            assert await wait_for_state(hub.store, message_id, {"rejected"}) == "rejected"
            (answer,) = await taken(hub, "dept.finance", 1)
    receipt, _ = receipt_of(deployment, answer)
    assert [c for c, _ in receipt["reasons"]] == ["certificate_revocation_unknown"]  # type: ignore[union-attr]
