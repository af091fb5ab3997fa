"""Submitting envelopes over HTTP, following them, their receipts, the search."""

from __future__ import annotations

import asyncio
import json
import uuid

from click.testing import CliRunner

from envelopes.parsing import parse_xml
from envelopes.signatures import verify_sender
from hub.cli import main
from tests.hub.api.support import Api
from tests.hub.harness import wait_for_state

XML = {"Content-Type": "application/xml"}


def problem(response: object, status: int, code: str) -> dict[str, object]:
    """The response is a problem+json with this status and code; its body."""
    assert response.status_code == status, (response.status_code, response.text)  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["code"] == code and body["status"] == status, body
    assert body["detail"] and body["problems"], body
    assert "Traceback" not in response.text  # type: ignore[attr-defined]
    return body


async def test_submit_and_follow_a_message(api: Api) -> None:
    message_id, body = api.deployment.envelope("dept.finance", "dept.culture")
    async with api.client("finance") as http:
        queued = await http.post("/v1/envelopes", content=body, headers=XML)
        assert queued.status_code == 202, queued.text
        assert queued.json()["message_id"] == message_id
        assert queued.json()["links"] == {"self": f"/v1/messages/{message_id}"}
        await wait_for_state(api.hub.store, message_id, {"delivered"})
        traced = await http.get(f"/v1/messages/{message_id}")
        assert traced.status_code == 200
        data = traced.json()
        assert data["state"] == "delivered" and data["sender"] == "dept.finance"
        assert [e["state"] for e in data["events"]][:3] == ["received", "accepted", "routed"]
        # the same JSON as `hub trace ID --json`
        cli = await asyncio.to_thread(
            CliRunner().invoke,
            main,
            ["trace", message_id, "--json", "--config", str(api.deployment.config_path)],
        )
        assert cli.exit_code == 0, cli.stderr
        assert json.loads(cli.stdout) == data

        # the sender's signed receipt says where it is
        receipt = await http.get(f"/v1/messages/{message_id}/receipt")
        assert receipt.status_code == 200
        assert receipt.headers["content-type"] == "application/xml"
        verified = verify_sender(parse_xml(receipt.content), api.deployment.trust())
        assert verified.envelope.header.recipient == "dept.finance"
        assert b'State="delivered"' in receipt.content or b">delivered<" in receipt.content

    # the recipient reads it too, but gets no receipt for what it did not send
    async with api.client("culture") as http:
        assert (await http.get(f"/v1/messages/{message_id}")).status_code == 200
        problem(await http.get(f"/v1/messages/{message_id}/receipt"), 403, "forbidden")


async def test_wait_returns_the_decision_with_its_reasons(api: Api) -> None:
    message_id, body = api.deployment.envelope("dept.finance", "dept.culture")
    async with api.client("finance") as http:
        decided = await http.post("/v1/envelopes?wait=10", content=body, headers=XML)
        assert decided.status_code == 200, decided.text
        assert decided.json()["state"] in ("accepted", "routed", "delivered")
        assert decided.json()["reasons"] == []

        # signed by finance, then altered: the signature no longer holds
        forged_id = str(uuid.uuid4())
        forged = body.replace(message_id.encode(), forged_id.encode())
        refused = await http.post("/v1/envelopes?wait=10", content=forged, headers=XML)
        assert refused.status_code == 200
        out = refused.json()
        assert out["message_id"] == forged_id and out["state"] == "rejected"
        assert out["reasons"] and out["reasons"][0]["code"] == "signature_invalid"
        assert all(r["text"] for r in out["reasons"])

        # the same MessageId with other content: a conflict, named as such
        other_id, other = api.deployment.envelope(
            "dept.finance", "dept.land", message_id=uuid.UUID(message_id)
        )
        assert other_id == message_id
        conflict = await http.post("/v1/envelopes?wait=10", content=other, headers=XML)
        assert conflict.json()["state"] == "rejected"
        assert conflict.json()["reasons"][0]["code"] == "conflict"

        # resending the very same envelope: the decision on the message stands
        again = await http.post("/v1/envelopes?wait=10", content=body, headers=XML)
        assert again.json()["message_id"] == message_id
        assert again.json()["state"] != "rejected"


async def test_bad_submissions_are_refused_with_their_cause(api: Api) -> None:
    limit = api.deployment.config.api.max_body_bytes
    async with api.client("finance") as http:
        problem(await http.post("/v1/envelopes", content=b"", headers=XML), 422, "invalid_request")
        # over the limit: refused before it is read whole
        big = b"<x>" + b" " * (limit + 10) + b"</x>"
        body = problem(await http.post("/v1/envelopes", content=big, headers=XML), 413, "too_large")
        assert str(limit) in str(body["detail"])
        # not XML at all: the hub refuses it and says so; it is on record under its id
        garbage = await http.post("/v1/envelopes?wait=10", content=b"not xml", headers=XML)
        assert garbage.status_code == 200, garbage.text
        assert garbage.json()["state"] == "rejected"
        assert garbage.json()["reasons"][0]["code"] == "malformed"
        # another department's envelope: forbidden, and the attempt is on the audit log
        _, foreign = api.deployment.envelope("dept.land", "dept.culture")
        body = problem(
            await http.post("/v1/envelopes", content=foreign, headers=XML), 403, "forbidden"
        )
        assert "dept.land" in str(body["detail"])
        problem(await http.get("/v1/messages/" + str(uuid.uuid4())), 404, "not_found")
        problem(await http.get("/v1/messages?limit=0"), 422, "invalid_request")
        problem(await http.get("/v1/messages?cursor=%%%"), 422, "invalid_request")
    log = await api.hub.store.audit_log()
    assert [(e.action, e.actor.split()[0]) for e in log][:1] == [
        ("envelope.forbidden", "dept.finance")
    ]
    # the hub kept serving
    _message_id, body = api.deployment.envelope("dept.finance", "dept.culture")
    async with api.client("finance") as http:
        ok = await http.post("/v1/envelopes?wait=10", content=body, headers=XML)
        assert ok.json()["state"] in ("accepted", "routed", "delivered")


async def test_search_pages_through_my_messages(api: Api) -> None:
    sent = []
    async with api.client("finance") as http:
        for recipient in ["dept.culture"] * 5 + ["dept.land"] * 2:
            message_id, body = api.deployment.envelope("dept.finance", recipient)
            assert (await http.post("/v1/envelopes", content=body, headers=XML)).status_code == 202
            sent.append(message_id)
    _, theirs = api.deployment.envelope("dept.land", "dept.culture")
    async with api.client("land") as http:
        land_id = (await http.post("/v1/envelopes", content=theirs, headers=XML)).json()[
            "message_id"
        ]
    for message_id in [*sent, land_id]:
        await wait_for_state(api.hub.store, message_id, {"delivered"})

    async def pages(who: str, **params: object) -> list[list[str]]:
        out: list[list[str]] = []
        async with api.client(who) as http:
            query: dict[str, object] = {"limit": 3, **params}
            while True:
                page = await http.get("/v1/messages", params=query)
                assert page.status_code == 200, page.text
                out.append([item["message_id"] for item in page.json()["items"]])
                if page.json()["next"] is None:
                    return out
                query["cursor"] = page.json()["next"]

    mine = await pages("finance")
    assert [len(p) for p in mine] == [3, 3, 1] or [len(p) for p in mine] == [3, 3, 1, 0]
    assert sorted(m for p in mine for m in p) == sorted(sent)  # land's own message not among them
    async with api.client("finance") as http:
        whole = (await http.get("/v1/messages", params={"limit": 100})).json()["items"]
    assert [m for p in mine for m in p] == [i["message_id"] for i in whole]  # pages = the list
    times = [i["received_at"] for i in whole]
    assert times == sorted(times, reverse=True)  # newest first
    to_land = await pages("finance", counterpart="dept.land")
    assert sorted(m for p in to_land for m in p) == sorted(sent[5:])
    assert [m for p in await pages("finance", state="rejected") for m in p] == []
    memo_type = "{urn:interagency-hub:payload:memo:1.0}Memo"
    assert len([m for p in await pages("culture", type=memo_type) for m in p]) == 6
    assert sum(map(len, await pages("auditor"))) == 8
    assert sum(map(len, await pages("finance-manager"))) == 7
    assert sum(map(len, await pages("finance", **{"from": "2000-01-01", "to": "2000-12-31"}))) == 0


async def test_a_submission_not_decided_at_once_is_queued(api: Api) -> None:
    """When the hub cannot decide a submission in its own batch (it is stopping, or the batch
    failed), the envelope goes to hub.inbound and is decided from there; ``wait`` still gets
    the decision, without it the answer says ``queued``."""

    async def cannot(*_: object) -> None:
        return None

    api.hub.ingest_here = cannot  # type: ignore[method-assign]
    async with api.client("finance") as http:
        message_id, body = api.deployment.envelope("dept.finance", "dept.culture")
        waited = await http.post("/v1/envelopes?wait=10", content=body, headers=XML)
        assert waited.status_code == 200, waited.text
        assert waited.json()["message_id"] == message_id
        assert waited.json()["state"] in ("accepted", "routed", "delivered")
        other_id, other = api.deployment.envelope("dept.finance", "dept.culture")
        queued = await http.post("/v1/envelopes", content=other, headers=XML)
        assert queued.status_code == 202 and queued.json()["state"] == "queued"
    await wait_for_state(api.hub.store, other_id, {"delivered"})
    row = await api.hub.store.get_message(message_id)
    assert row is not None and [e.detail for e in await api.hub.store.timeline(message_id)]


async def test_an_unreadable_submission_is_answered_in_the_callers_inbox(api: Api) -> None:
    async with api.client("finance") as http:
        garbage = await http.post("/v1/envelopes?wait=10", content=b"<not-closed>", headers=XML)
        rejected_id = garbage.json()["message_id"]
        assert garbage.json()["state"] == "rejected"
        found = []
        for _ in range(50):
            page = (await http.get("/v1/inbox", params={"max": 20, "wait": 1})).json()["items"]
            found += [i for i in page if i["kind"] == "receipt"]
            if any(rejected_id in i["envelope"] for i in found):
                break
    assert any(rejected_id in i["envelope"] and "malformed" in i["envelope"] for i in found)
