"""Who may do what: every kind of caller against every endpoint, as a table; bad, revoked and
missing tokens; the rate limit; the audit log of administrators' actions."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass

import httpx
import pytest

from envelopes.model import AttachmentRef, ContentReference, DocumentCard
from tests.hub.api.support import CALLERS, Api, serving_api
from tests.hub.harness import Deployment, running_hub, wait_for_state

XML = {"Content-Type": "application/xml"}
CARD = DocumentCard(
    kind="letter",  # type: ignore[arg-type]
    title="О графике приёма граждан",
    number="ФУ-7/26",
    date=dt.date(2026, 12, 1),
)
WHO = [*CALLERS, None]  # None: no credentials at all
PARTICIPANTS = {"finance", "culture", "land"}
READERS = {"auditor", "admin"}


@dataclass
class Case:
    method: str
    path: str
    allowed: dict[str | None, int]  # caller -> status; everyone else: ``otherwise``
    otherwise: int = 403
    body: str = ""  # envelope | memo | reason | token | notice


def cases(
    doc: str, memo: str, blob: str = "0" * 64, uploads: tuple[str, str] = ("", "")
) -> list[Case]:
    """The table: ``doc`` is a document finance sent culture, ``memo`` a message likewise,
    ``blob`` finance's blob the memo refers to, ``uploads`` two empty uploads of finance's."""
    reader_of = {  # who may read what finance sent culture
        "finance": 200, "culture": 200, "finance-manager": 200, "auditor": 200, "admin": 200,
        "land": 404, "land-manager": 404,
    }  # fmt: skip
    everyone = {w: 200 for w in CALLERS}
    readers = {"auditor": 200, "admin": 200}
    none = str(uuid.uuid4())
    theirs = {"finance": 200, "culture": 404, "land": 404}  # finance's upload
    return [
        Case("POST", "/v1/envelopes", {"finance": 202}, body="envelope"),
        Case("GET", f"/v1/messages/{memo}", reader_of),
        Case("GET", f"/v1/messages/{memo}/receipt", {**reader_of, "culture": 403}),
        Case("GET", "/v1/messages", everyone),
        Case("GET", "/v1/inbox", {p: 200 for p in PARTICIPANTS}),
        # culture took the memo from its inbox the row before; the others hold no lease on it
        Case("POST", f"/v1/inbox/{memo}/ack", {"culture": 204, "finance": 404, "land": 404}),
        Case("GET", "/v1/me", everyone),
        Case("GET", f"/v1/documents/{doc}", reader_of),
        Case(
            "POST",
            f"/v1/documents/{doc}/registration-number",
            {"culture": 200, "finance": 409, "land": 404},
        ),
        Case(
            "POST",
            f"/v1/documents/{doc}/notices/draft",
            {"culture": 200, "finance": 200, "land": 404},
            body="notice",
        ),
        Case("GET", "/v1/reports/execution", everyone),
        Case("GET", "/v1/reports/execution?department=dept.culture", {"culture": 200, **readers}),
        Case("GET", "/v1/admin/status", readers),
        Case("GET", "/v1/admin/nodes", readers),
        Case("GET", "/v1/admin/breakers", readers),
        Case("GET", "/v1/admin/routes/check", readers),
        Case("POST", "/v1/admin/routes/explain", readers, body="memo"),
        Case("POST", "/v1/admin/routes/reload", {"admin": 200}, body="reason"),
        Case("GET", "/v1/admin/routes/versions", readers),
        Case("GET", "/v1/admin/dead-letters", readers),
        Case("GET", f"/v1/admin/dead-letters/{none}", {"auditor": 404, "admin": 404}),
        Case("POST", f"/v1/admin/dead-letters/{none}/replay", {"admin": 404}, body="reason"),
        Case("POST", f"/v1/admin/dead-letters/{none}/discard", {"admin": 404}, body="reason"),
        Case("GET", "/v1/admin/participants", readers),
        Case("GET", "/v1/admin/tokens", readers),
        Case("POST", "/v1/admin/tokens", {"admin": 201}, body="token"),
        Case("DELETE", "/v1/admin/tokens/0000000000000000", {"admin": 404}),
        Case("GET", "/v1/admin/audit", readers),
        Case("GET", f"/v1/messages/{memo}/proof", reader_of),
        Case("GET", "/v1/archive/heads", everyone),
        Case("POST", "/v1/admin/archive/heads", {"admin": 200}, body="reason"),
        # the head the row before signed, against itself: every caller may check consistency
        Case("GET", "/v1/archive/consistency", everyone, body="sizes"),
        Case("POST", "/v1/blobs/uploads", {p: 201 for p in PARTICIPANTS}, body="upload"),
        Case("GET", f"/v1/blobs/uploads/{uploads[0]}", theirs),
        Case("PATCH", f"/v1/blobs/uploads/{uploads[0]}", theirs),
        Case("POST", f"/v1/blobs/uploads/{uploads[0]}/complete", {**theirs, "finance": 201}),
        Case("DELETE", f"/v1/blobs/uploads/{uploads[1]}", {**theirs, "finance": 204}),
        Case("GET", f"/v1/blobs/{blob}", reader_of),
    ]


async def test_every_caller_against_every_endpoint(api: Api) -> None:
    deployment = api.deployment
    doc, doc_body = deployment.envelope("dept.finance", "dept.culture", card=CARD)
    async with api.client("finance") as http:
        blob, uploads = await _blob_and_uploads(http)
        memo, memo_body = deployment.envelope(
            "dept.finance", "dept.culture", references=[_reference(blob)]
        )
        for body in (doc_body, memo_body):
            assert (await http.post("/v1/envelopes", content=body, headers=XML)).status_code == 202
    for message_id in (doc, memo):
        await wait_for_state(api.hub.store, message_id, {"delivered"})
    table = cases(doc, memo, blob, uploads)
    # the paths the table covers are all the API has (a new endpoint needs its row)
    covered = {(c.method, c.path.split("?")[0]) for c in table}
    async with httpx.AsyncClient(base_url=api.url) as http:
        spec = (await http.get("/openapi.json")).json()
    for path, operations in spec["paths"].items():
        for method in operations:
            assert any(m == method.upper() and _matches(path, p) for m, p in covered), (
                f"{method.upper()} {path} is not in the table"
            )

    wrong = []
    for case in table:
        for who in WHO:
            expected = case.allowed.get(who, 401 if who is None else case.otherwise)
            async with api.client(who) as http:
                kwargs = _body(api, case, who)
                if case.body == "sizes":  # the latest signed head, against itself
                    latest = await http.get("/v1/archive/heads", headers=api.headers("admin"))
                    size = latest.json()[-1]["size"]
                    kwargs = {"params": {"old": size, "new": size}}
                response = await http.request(case.method, case.path, **kwargs)
            if response.status_code != expected:
                wrong.append(f"{who}: {case.method} {case.path} -> {response.status_code} "
                             f"(expected {expected}): {response.text[:160]}")  # fmt: skip
            elif expected >= 400:
                code = response.json()["code"]
                if code not in ("unauthorized", "forbidden", "not_found", "not_the_recipient"):
                    wrong.append(f"{who}: {case.method} {case.path}: code {code}")
    assert wrong == []


def _matches(template: str, path: str) -> bool:
    parts, real = template.strip("/").split("/"), path.strip("/").split("/")
    return len(parts) == len(real) and all(
        a == b or a.startswith("{") for a, b in zip(parts, real, strict=True)
    )


EMPTY = hashlib.sha256(b"").hexdigest()


async def _blob_and_uploads(http: httpx.AsyncClient) -> tuple[str, tuple[str, str]]:
    """A blob of finance's (uploaded whole), and two empty uploads of finance's under way."""
    content = b"matrix" * 100
    digest = hashlib.sha256(content).hexdigest()
    created = await http.post("/v1/blobs/uploads", json={"sha256": digest, "size": len(content)})
    where = created.json()["links"]["self"]
    await http.patch(where, content=content)
    assert (await http.post(f"{where}/complete")).status_code == 201
    ids = []
    for _ in range(2):
        made = await http.post("/v1/blobs/uploads", json={"sha256": EMPTY, "size": 0})
        ids.append(made.json()["upload_id"])
    return digest, (ids[0], ids[1])


def _reference(digest: str) -> ContentReference:
    ref = AttachmentRef(
        id="att1", file_name="matrix.bin", media_type="application/octet-stream", size=600,
        sha256=bytes.fromhex(digest),
    )  # fmt: skip
    return ContentReference.for_ref(ref)


def _body(api: Api, case: Case, who: str | None) -> dict[str, object]:
    if case.body == "upload":
        return {"json": {"sha256": EMPTY, "size": 0}}
    if case.body == "envelope":  # finance's own envelope: others may not submit it
        _, body = api.deployment.envelope("dept.finance", "dept.culture")
        return {"content": body, "headers": XML}
    if case.body == "memo":
        _, body = api.deployment.envelope("dept.finance", "dept.culture")
        return {"content": body, "headers": XML}
    if case.body == "reason":
        return {"json": {"reason": f"matrix test by {who}"}}
    if case.body == "token":
        return {"json": {"participant": "dept.land", "role": "participant", "reason": "test"}}
    if case.body == "notice":
        return {"json": {"stage": "in_progress", "text": "в работе"}}
    return {}


async def test_bad_missing_and_revoked_tokens(api: Api) -> None:
    good = api.tokens["finance"]
    token_id = api.token_ids["finance"]
    attempts = {
        "": "no credentials",
        "Basic Zm9vOmJhcg==": "Bearer",
        "Bearer  x y": "unknown, revoked or malformed",
        "Bearer hubt_nonsense": "unknown, revoked or malformed",
        f"Bearer {good[:-2]}xx": "unknown, revoked or malformed",  # tampered secret
        f"Bearer hubt_{'0' * 16}_{good.split('_', 2)[2]}": "unknown, revoked or malformed",
    }
    async with httpx.AsyncClient(base_url=api.url) as http:
        for header, says in attempts.items():
            response = await http.get("/v1/me", headers={"Authorization": header} if header else {})
            assert response.status_code == 401, header
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["code"] == "unauthorized"
            assert says in response.json()["detail"], response.json()
        assert (await http.get("/v1/me", headers=api.headers("finance"))).status_code == 200
        # an administrator revokes it (with a reason): from then on it is refused
        revoked = await http.delete(
            f"/v1/admin/tokens/{token_id}", params={"reason": "laptop lost"},
            headers=api.headers("admin"),
        )  # fmt: skip
        assert revoked.status_code == 204
        after = await http.get("/v1/me", headers=api.headers("finance"))
        assert after.status_code == 401 and "revoked" in after.json()["detail"]
        listed = (await http.get("/v1/admin/tokens", headers=api.headers("auditor"))).json()
        assert [t["revoked_at"] is not None for t in listed if t["id"] == token_id] == [True]
        assert all("token" not in t for t in listed)  # never the token itself
        audit = (await http.get("/v1/admin/audit", headers=api.headers("auditor"))).json()
        entry = audit[0]
        assert entry["action"] == "token.revoke" and entry["target"] == token_id
        assert entry["reason"] == "laptop lost" and entry["actor"].startswith("hub.main (admin")
        assert entry["at"]


async def test_admin_actions_are_on_the_audit_log(api: Api) -> None:
    async with api.client("admin") as http:
        created = await http.post(
            "/v1/admin/tokens",
            json={"participant": "dept.land", "role": "manager", "reason": "новый начальник"},
        )
        assert created.status_code == 201
        token = created.json()["token"]
        reloaded = await http.post("/v1/admin/routes/reload", json={"reason": "новые правила"})
        assert reloaded.json()["result"] in ("applied", "unchanged")
        refused = await http.post("/v1/admin/routes/reload", json={"reason": ""})
        assert refused.status_code == 422  # a reason is required
        audit = (await http.get("/v1/admin/audit")).json()
    assert [(e["action"], e["reason"]) for e in audit[:2]] == [
        ("rules.reload", "новые правила"),
        ("token.create", "новый начальник"),
    ]
    assert audit[1]["detail"] == {"participant": "dept.land", "role": "manager"}
    # the new token works, with the role it was given
    async with httpx.AsyncClient(
        base_url=api.url, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        me = (await http.get("/v1/me")).json()
        assert (me["participant"], me["role"], me["department"]) == (
            "dept.land",
            "manager",
            "dept.land",
        )
        assert (await http.get("/v1/inbox")).status_code == 403


@pytest.mark.parametrize("rate", [2.0])
async def test_the_rate_limit_answers_429_with_retry_after(
    deployment: Deployment, rate: float
) -> None:
    deployment.config.api.rate = rate
    deployment.config.api.burst = 5
    async with (
        running_hub(deployment) as hub,
        serving_api(hub, deployment) as api,
        api.client("finance") as http,
    ):
        statuses = [(await http.get("/v1/me")).status_code for _ in range(8)]
        assert statuses[:5] == [200] * 5 and 429 in statuses[5:]
        limited = await http.get("/v1/me")
        assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
        wait = int(limited.headers["retry-after"])
        assert 1 <= wait <= 2
        # others are not slowed down by finance
        async with api.client("culture") as other:
            assert (await other.get("/v1/me")).status_code == 200
        await asyncio.sleep(wait)
        assert (await http.get("/v1/me")).status_code == 200


async def test_guessing_tokens_is_rate_limited_too(deployment: Deployment) -> None:
    deployment.config.api.rate = 0.5
    deployment.config.api.burst = 3
    async with (
        running_hub(deployment) as hub,
        serving_api(hub, deployment) as api,
        httpx.AsyncClient(base_url=api.url) as http,
    ):
        bad = {"Authorization": "Bearer hubt_0000000000000000_guess"}
        statuses = [(await http.get("/v1/me", headers=bad)).status_code for _ in range(5)]
        assert statuses[:3] == [401] * 3 and statuses[3:] == [429, 429]
        # a caller with a good token is not held back by someone else's guessing
        assert (await http.get("/v1/me", headers=api.headers("finance"))).status_code == 200


async def test_a_fault_answers_500_with_an_incident_and_no_trace(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("disk on fire at /var/lib/secret/path")

    api.hub.store.search_messages = broken  # type: ignore[method-assign]
    async with api.client("finance") as http:
        response = await http.get("/v1/messages")
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "internal" and "incident" in body["detail"]
    assert "disk on fire" not in response.text and "Traceback" not in response.text
    incident = body["detail"].split("incident ")[1].rstrip(")")
    assert any(incident in r.getMessage() and r.exc_info for r in caplog.records)
