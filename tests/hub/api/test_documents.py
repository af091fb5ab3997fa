"""Execution control over HTTP: a document's state, notice drafts, the execution summary."""

from __future__ import annotations

import datetime as dt
import io

from envelopes.model import DocumentCard
from tests.hub.api.support import Api
from tests.hub.harness import wait_for_state

XML = {"Content-Type": "application/xml"}
CARD = DocumentCard(
    kind="letter",  # type: ignore[arg-type]
    title="О подготовке к зиме",
    number="ФУ-9/26",
    date=dt.date(2026, 12, 1),
    urgency="urgent",  # type: ignore[arg-type]
)


async def test_a_document_through_the_api(api: Api) -> None:
    document_id, body = api.deployment.envelope("dept.finance", "dept.culture", card=CARD)
    async with api.client("finance") as http:
        assert (await http.post("/v1/envelopes", content=body, headers=XML)).status_code == 202
    await wait_for_state(api.hub.store, document_id, {"delivered"})
    async with api.client("culture") as http:
        doc = (await http.get(f"/v1/documents/{document_id}")).json()
        assert doc["sender"] == "dept.finance" and doc["recipient"] == "dept.culture"
        assert doc["execution"]["card"]["title"] == CARD.title
        assert doc["execution"]["stage"] is None and doc["execution"]["on_control"] is False

        # a draft: the hub completes what the rules demand (a deadline from the urgency)
        missing = await http.post(
            f"/v1/documents/{document_id}/notices/draft", json={"stage": "executor_assigned"}
        )
        assert missing.status_code == 422 and "executor" in missing.json()["detail"]
        both = await http.post(
            f"/v1/documents/{document_id}/notices/draft",
            json={"stage": "executor_assigned", "executor": "Иванова А.А.",
                  "deadline": "2026-12-31", "urgency": "urgent"},
        )  # fmt: skip
        assert both.status_code == 422
        unknown = await http.post(
            f"/v1/documents/{document_id}/notices/draft", json={"stage": "overdue"}
        )
        assert unknown.status_code == 422 and unknown.json()["code"] == "invalid_request"
        draft = await http.post(
            f"/v1/documents/{document_id}/notices/draft",
            json={"stage": "executor_assigned", "executor": "Иванова А.А."},
        )
        assert draft.status_code == 200, draft.text
        out = draft.json()
        assert out["recipient"] == "dept.finance" and out["document"] == document_id
        assert "Иванова А.А." in out["payload"]
        assert any("urgent" in note for note in out["notes"])

        # the summary, in every format, for the caller's own department
        for fmt, starts in (("json", b"{"), ("csv", "Департамент".encode()), ("xlsx", b"PK")):
            report = await http.get("/v1/reports/execution", params={"format": fmt})
            assert report.status_code == 200, report.text
            assert report.content.lstrip(b"\xef\xbb\xbf").startswith(starts) or fmt == "csv"
        table = await http.get("/v1/reports/execution", params={"format": "table", "lang": "en"})
        assert table.headers["content-type"].startswith("text/plain")
        forbidden = await http.get("/v1/reports/execution", params={"department": "dept.land"})
        assert forbidden.status_code == 403
        backwards = await http.get(
            "/v1/reports/execution", params={"from": "2026-12-31", "to": "2026-01-01"}
        )
        assert backwards.status_code == 422
    async with api.client("auditor") as http:
        whole = await http.get("/v1/reports/execution", params={"format": "xlsx"})
        assert whole.status_code == 200
        import openpyxl

        book = openpyxl.load_workbook(io.BytesIO(whole.content))
        assert book.active is not None and book.active.max_row >= 1
    async with api.client("finance") as http:
        plain = await http.get(f"/v1/documents/{document_id}")
        assert plain.status_code == 200  # the sender follows its document too
        memo_id, memo = api.deployment.envelope("dept.finance", "dept.culture")
        await http.post("/v1/envelopes?wait=10", content=memo, headers=XML)
        # a memo without a card is a document as well (its card is null)
        memo_doc = await http.get(f"/v1/documents/{memo_id}")
        assert memo_doc.status_code == 200 and memo_doc.json()["execution"]["card"] is None
