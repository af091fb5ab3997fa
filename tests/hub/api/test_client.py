"""The typed client (``hub.api.client``) and the command line's remote mode around it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hub.api.client import HubClient
from hub.api.models import NoticeRequestIn
from hub.cli import main
from hub.errors import ApiError
from tests.hub.api.support import Api
from tests.hub.harness import wait_for_state


async def run(*argv: str, env: dict[str, str] | None = None) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, main, list(argv), env=env)


async def test_the_client_end_to_end(api: Api) -> None:
    document_id, body = api.deployment.envelope("dept.finance", "dept.culture")

    def finance_side() -> None:
        with HubClient(api.url, api.tokens["finance"]) as hub:
            submitted = hub.submit(body, wait=10)
            assert submitted.message_id == document_id and submitted.state == "delivered"
            assert hub.me().participant == "dept.finance"
            assert [m.message_id for m in hub.messages(page_size=1)] == [document_id]
            assert hub.trace(document_id)["state"] == "delivered"
            assert b"Receipt" in hub.receipt(document_id)
            with pytest.raises(ApiError) as refused:
                hub.registration_number(document_id)  # finance sent it: not its to register
            assert (refused.value.status, refused.value.code) == (409, "not_the_recipient")

    def culture_side() -> None:
        with HubClient(api.url, api.tokens["culture"]) as hub:
            (item,) = hub.inbox(10, wait=5)
            assert item.message_id == document_id
            hub.ack(item.message_id, item.lease.id)
            number = hub.registration_number(document_id)
            assert number.number == "1/26" and number.journal == "incoming"
            assert hub.registration_number(document_id).number == "1/26"  # once per document
            draft = hub.draft_notice(document_id, NoticeRequestIn(stage="registered"))
            assert draft.recipient == "dept.finance" and "1/26" in draft.payload
            assert hub.document(document_id).execution.stage is None  # not sent yet
            report = hub.execution_report("csv")
            assert report.decode("utf-8-sig").splitlines()[0]

    await asyncio.to_thread(finance_side)
    await wait_for_state(api.hub.store, document_id, {"delivered"})
    await asyncio.to_thread(culture_side)


async def test_the_remote_command_line(api: Api, tmp_path: Path) -> None:
    message_id, body = api.deployment.envelope("dept.finance", "dept.culture")
    (tmp_path / "memo.xml").write_bytes(body)
    _, foreign = api.deployment.envelope("dept.land", "dept.culture")
    (tmp_path / "foreign.xml").write_bytes(foreign)
    env = {"HUB_URL": api.url, "HUB_TOKEN": api.tokens["finance"]}  # from the environment
    sent = await run("send", str(tmp_path / "memo.xml"), str(tmp_path / "foreign.xml"), env=env)
    assert sent.exit_code == 1
    assert sent.stdout.splitlines() == [f"{message_id} delivered", "foreign.xml rejected"]
    assert "rejected: foreign.xml: forbidden: dept.finance may submit only" in sent.stderr
    # the inbox of another participant than the token's: refused, nothing taken
    wrong = await run("inbox", "dept.culture", "-o", str(tmp_path / "in"), env=env)
    assert wrong.exit_code == 1 and "the token is dept.finance's" in wrong.stderr
    culture = ["--url", api.url, "--token", api.tokens["culture"]]
    taken = await run("inbox", "dept.culture", *culture, "--max", "5", "-o", str(tmp_path / "in"))
    assert taken.exit_code == 0 and taken.stdout.split() == [message_id, "dept.finance", "request"]
    written = (tmp_path / "in" / f"{message_id}.xml").read_bytes()
    assert b"HubSignature" in written and message_id.encode() in written
    row = await api.hub.store.get_message(message_id)
    assert row is not None and row.state == "acknowledged"
    # trace of something the caller may not read: as if it did not exist
    land = ["--url", api.url, "--token", api.tokens["land"]]
    hidden = await run("trace", message_id, *land)
    assert hidden.exit_code == 1 and "not_found" in hidden.stderr
    # no token: a usage error; a hub that is not there: unavailable, said plainly
    missing = await run("trace", message_id, "--url", api.url, env={"HUB_TOKEN": ""})
    assert missing.exit_code == 2 and "--token" in missing.stderr
    down = await run("trace", message_id, "--url", "http://127.0.0.1:9", "--token", "x")
    assert down.exit_code == 1 and "unavailable" in down.stderr
