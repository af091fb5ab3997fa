"""Pulling an inbox over HTTP with leases: each message to one puller at a time, again when a
lease ends unacknowledged, ``acknowledged`` on its timeline once it is acknowledged."""

from __future__ import annotations

import asyncio
import time

from envelopes.parsing import parse_xml
from envelopes.signatures import verify_hub
from tests.hub.api.support import Api, serving_api
from tests.hub.harness import Deployment, running_hub, wait_for_state

XML = {"Content-Type": "application/xml"}


async def send(
    api: Api, count: int, sender: str = "finance", to: str = "dept.culture"
) -> list[str]:
    ids = []
    async with api.client(sender) as http:
        for _ in range(count):
            message_id, body = api.deployment.envelope(f"dept.{sender}", to)
            response = await http.post("/v1/envelopes", content=body, headers=XML)
            assert response.status_code == 202, response.text
            ids.append(message_id)
    for message_id in ids:
        await wait_for_state(api.hub.store, message_id, {"delivered"})
    return ids


async def test_take_and_acknowledge(api: Api) -> None:
    (message_id,) = await send(api, 1)
    async with api.client("culture") as http:
        page = await http.get("/v1/inbox", params={"max": 10})
        assert page.status_code == 200, page.text
        (item,) = page.json()["items"]
        assert item["message_id"] == message_id and item["sender"] == "dept.finance"
        assert item["kind"] == "request"
        assert item["type"] == "{urn:interagency-hub:payload:memo:1.0}Memo"
        assert 0 < item["lease"]["expires_in"] <= api.deployment.config.api.lease
        # the countersigned envelope: the hub's signature holds
        verified = verify_hub(
            parse_xml(item["envelope"].encode()), api.deployment.trust(), "hub.main"
        )
        assert str(verified.envelope.header.message_id) == message_id
        # nothing more while it is leased
        assert (await http.get("/v1/inbox")).json()["items"] == []
        assert (await http.post(f"/v1/inbox/{message_id}/ack")).status_code == 204
        again = await http.post(f"/v1/inbox/{message_id}/ack")
        assert again.status_code == 404 and again.json()["code"] == "not_found"
    timeline = await api.hub.store.timeline(message_id)
    acknowledged = [e for e in timeline if e.state == "acknowledged"]
    assert len(acknowledged) == 1 and acknowledged[0].detail == "taken by dept.culture"
    row = await api.hub.store.get_message(message_id)
    assert row is not None and row.state == "acknowledged"
    # the sender's receipts wait in its own inbox; acknowledging one records nothing on it
    async with api.client("finance") as http:
        receipts = (await http.get("/v1/inbox", params={"max": 10, "wait": 5})).json()["items"]
        assert receipts and {r["kind"] for r in receipts} == {"receipt"}
        for receipt in receipts:
            assert (await http.post(f"/v1/inbox/{receipt['message_id']}/ack")).status_code == 204


async def test_wait_returns_when_a_message_arrives(api: Api) -> None:
    async with api.client("culture") as http:
        started = time.monotonic()
        pulling = asyncio.create_task(http.get("/v1/inbox", params={"wait": 20}))
        await asyncio.sleep(0.5)
        assert not pulling.done()
        (message_id,) = await send(api, 1)
        page = await pulling
        assert [i["message_id"] for i in page.json()["items"]] == [message_id]
        assert time.monotonic() - started < 15


async def test_two_pullers_never_share_a_lease(api: Api) -> None:
    ids = await send(api, 24)
    held: dict[str, list[str]] = {"a": [], "b": []}

    async def pull(name: str) -> None:
        async with api.client("culture") as http:
            while True:
                items = (await http.get("/v1/inbox", params={"max": 5})).json()["items"]
                if not items:
                    return
                held[name] += [i["message_id"] for i in items]

    await asyncio.gather(pull("a"), pull("b"))
    assert set(held["a"]).isdisjoint(held["b"])
    assert sorted(held["a"] + held["b"]) == sorted(ids)  # each once: none lost, none twice
    # each puller acknowledges what it holds; the other cannot acknowledge it
    async with api.client("land") as http:
        stranger = await http.post(f"/v1/inbox/{held['a'][0]}/ack")
        assert stranger.status_code == 404
    async with api.client("culture") as http:
        for message_id in ids:
            assert (await http.post(f"/v1/inbox/{message_id}/ack")).status_code == 204
        assert (await http.get("/v1/inbox")).json()["items"] == []


async def test_an_expired_lease_hands_the_message_out_again(deployment: Deployment) -> None:
    deployment.config.api.lease = 1.0
    async with running_hub(deployment) as hub, serving_api(hub, deployment) as api:
        (message_id,) = await send(api, 1)
        async with api.client("culture") as first, api.client("culture") as second:
            taken = (await first.get("/v1/inbox")).json()["items"]
            assert [i["message_id"] for i in taken] == [message_id]
            assert (await second.get("/v1/inbox")).json()["items"] == []  # leased to first
            # the first puller goes quiet; after its lease the message is handed out again
            again = (await second.get("/v1/inbox", params={"wait": 10})).json()["items"]
            assert [i["message_id"] for i in again] == [message_id]
            # the first puller's late ack, under its lease: refused, the second one's holds
            lease = {"lease": taken[0]["lease"]["id"]}
            late = await first.post(f"/v1/inbox/{message_id}/ack", params=lease)
            assert late.status_code == 409 and late.json()["code"] == "conflict"
            lease = {"lease": again[0]["lease"]["id"]}
            assert (
                await second.post(f"/v1/inbox/{message_id}/ack", params=lease)
            ).status_code == 204
        timeline = await hub.store.timeline(message_id)
        assert [e.state for e in timeline].count("acknowledged") == 1


async def test_acknowledging_after_the_lease_ended_is_a_conflict(deployment: Deployment) -> None:
    deployment.config.api.lease = 0.5
    async with running_hub(deployment) as hub, serving_api(hub, deployment) as api:
        api.server.state.leases.run_interval = 3600  # nobody collects ended leases meanwhile
        (message_id,) = await send(api, 1)
        async with api.client("culture") as http:
            assert (await http.get("/v1/inbox")).json()["items"]
            await asyncio.sleep(0.7)
            late = await http.post(f"/v1/inbox/{message_id}/ack")
            assert late.status_code == 409 and late.json()["code"] == "conflict"
            # it went back at once: here it is again, and this time it is acknowledged
            again = (await http.get("/v1/inbox", params={"wait": 5})).json()["items"]
            assert [i["message_id"] for i in again] == [message_id]
            assert (await http.post(f"/v1/inbox/{message_id}/ack")).status_code == 204
        row = await hub.store.get_message(message_id)
        assert row is not None and row.state == "acknowledged"
