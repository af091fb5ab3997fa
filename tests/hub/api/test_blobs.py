"""Attachments by reference over the API, on either transport: resumable uploads checked
against their SHA-256, envelopes that refer to blobs (accepted only for the sender's own, whole
blobs), downloads with Range for the uploader and the recipients only, small queued messages."""

from __future__ import annotations

import hashlib
import os

import httpx

from envelopes.model import AttachmentRef, ContentReference
from tests.hub.api.support import Api
from tests.hub.harness import wait_for_state

CONTENT = os.urandom(3 * 1024 * 1024 + 123)
DIGEST = hashlib.sha256(CONTENT).hexdigest()
XML = {"Content-Type": "application/xml"}


def reference(content: bytes = CONTENT, file_name: str = "scan.pdf") -> ContentReference:
    return ContentReference.for_ref(
        AttachmentRef(
            id="att1", file_name=file_name, media_type="application/pdf", size=len(content),
            sha256=hashlib.sha256(content).digest(),
        )
    )  # fmt: skip


async def upload(http: httpx.AsyncClient, content: bytes = CONTENT) -> dict[str, object]:
    """Two ranges, with a look at the offset in between (as a resumed upload does)."""
    digest = hashlib.sha256(content).hexdigest()
    created = await http.post("/v1/blobs/uploads", json={"sha256": digest, "size": len(content)})
    assert created.status_code == 201, created.text
    where = created.json()["links"]["self"]
    half = len(content) // 2
    first = await http.patch(
        where, content=content[:half],
        headers={"Content-Range": f"bytes 0-{half - 1}/{len(content)}"},
    )  # fmt: skip
    assert first.status_code == 200 and first.json()["offset"] == half
    status = await http.get(where)
    assert status.json()["offset"] == half and status.headers["Upload-Offset"] == str(half)
    again = await http.patch(  # a range that does not start at the offset
        where, content=content[:10], headers={"Content-Range": f"bytes 0-9/{len(content)}"}
    )
    assert again.status_code == 409 and again.headers["Upload-Offset"] == str(half)
    early = await http.post(f"{where}/complete")
    assert early.status_code == 409 and early.json()["code"] == "upload_incomplete"
    rest = await http.patch(
        where, content=content[half:],
        headers={"Content-Range": f"bytes {half}-{len(content) - 1}/{len(content)}"},
    )  # fmt: skip
    assert rest.json()["offset"] == len(content)
    done = await http.post(f"{where}/complete")
    assert done.status_code == 201, done.text
    blob: dict[str, object] = done.json()
    assert blob["uri"] == f"blob:sha256:{digest}" and blob["size"] == len(content)
    return blob


async def test_upload_refer_deliver_download(api: Api) -> None:
    async with api.client("finance") as finance:
        await upload(finance)
        message_id, body = api.deployment.envelope(references=[reference()])
        assert len(body) < 10_000
        submitted = await finance.post("/v1/envelopes?wait=10", content=body, headers=XML)
        assert submitted.json()["state"] == "delivered", submitted.text
    async with api.client("culture") as culture:
        inbox = (await culture.get("/v1/inbox", params={"max": 10, "wait": 10})).json()
        (item,) = [i for i in inbox["items"] if i["message_id"] == message_id]
        assert f"blob:sha256:{DIGEST}" in item["envelope"]
        assert len(item["envelope"].encode()) < 64 * 1024  # the broker carried a reference
        whole = await culture.get(f"/v1/blobs/{DIGEST}")
        assert whole.status_code == 200 and whole.content == CONTENT
        assert whole.headers["ETag"] == f'"{DIGEST}"'
        part = await culture.get(f"/v1/blobs/{DIGEST}", headers={"Range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == CONTENT[100:200]
        assert part.headers["Content-Range"] == f"bytes 100-199/{len(CONTENT)}"
        tail = await culture.get(f"/v1/blobs/{DIGEST}", headers={"Range": "bytes=-5"})
        assert tail.content == CONTENT[-5:]
        beyond = await culture.get(
            f"/v1/blobs/{DIGEST}", headers={"Range": f"bytes={len(CONTENT)}-"}
        )
        assert beyond.status_code == 416
    async with api.client("land") as land:
        assert (await land.get(f"/v1/blobs/{DIGEST}")).status_code == 404
    async with api.client("finance-manager") as manager:
        assert (await manager.get(f"/v1/blobs/{DIGEST}")).status_code == 200


async def test_a_digest_mismatch_keeps_nothing(api: Api) -> None:
    content = b"the real scan" * 1000
    claimed = hashlib.sha256(b"something else").hexdigest()
    async with api.client("finance") as http:
        created = await http.post(
            "/v1/blobs/uploads", json={"sha256": claimed, "size": len(content)}
        )
        where = created.json()["links"]["self"]
        await http.patch(where, content=content)
        done = await http.post(f"{where}/complete")
        assert done.status_code == 422
        assert done.headers["content-type"].startswith("application/problem+json")
        assert done.json()["code"] == "attachment_digest_mismatch"
        assert (await http.get(where)).status_code == 404
        for digest in (claimed, hashlib.sha256(content).hexdigest()):
            assert (await http.get(f"/v1/blobs/{digest}")).status_code == 404
        too_much = await http.post("/v1/blobs/uploads", json={"sha256": claimed, "size": 10**15})
        assert too_much.status_code == 413


async def test_references_that_cannot_stand_are_rejected(api: Api) -> None:
    theirs = b"land's own plan" * 1000
    async with api.client("land") as land:
        await upload(land, theirs)
    cases = {
        "attachment_missing": reference(b"never uploaded"),
        "attachment_forbidden": reference(theirs),  # finance refers to land's blob
    }
    async with api.client("finance") as finance:
        for code, ref in cases.items():
            message_id, body = api.deployment.envelope(references=[ref])
            answer = (await finance.post("/v1/envelopes", content=body, headers=XML)).json()
            assert answer["state"] == "rejected", answer
            assert answer["reasons"][0]["code"] == code
            assert "Reference[@Ref='att1']" in answer["reasons"][0]["text"]
            await wait_for_state(api.hub.store, message_id, {"rejected"})
            assert await api.hub.store.blob_refs(message_id) == []
    # a truncated upload is no blob: the reference to it is missing
    async with api.client("finance") as finance:
        content = b"cut short" * 1000
        digest = hashlib.sha256(content).hexdigest()
        created = await finance.post(
            "/v1/blobs/uploads", json={"sha256": digest, "size": len(content)}
        )
        await finance.patch(created.json()["links"]["self"], content=content[:100])
        _, body = api.deployment.envelope(references=[reference(content)])
        answer = (await finance.post("/v1/envelopes", content=body, headers=XML)).json()
        assert answer["reasons"][0]["code"] == "attachment_missing"
