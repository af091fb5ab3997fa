"""Live counters: a server-sent event stream (``/ui/live``) that sends the viewer's counters
every ``[ui] refresh`` seconds, and a version of the overdue list, so that the page updates
its numbers and fetches a new list only when it changed. No reload, no polling of pages."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from hub.api.state import ApiState, api_state
from hub.records import DocumentQuery
from hub.ui.session import Viewer, viewer_of

router = APIRouter(prefix="/ui", include_in_schema=False)
State = Annotated[ApiState, Depends(api_state)]
Seen = Annotated[Viewer, Depends(viewer_of)]


async def snapshot(state: ApiState, parties: tuple[str, ...]) -> dict[str, object]:
    """The counters of the overview, and a fingerprint of its overdue list."""
    today = state.hub.policy.today()
    due_until = today + dt.timedelta(days=state.config.ui.due_days)
    counts = await state.store.document_counts(parties, today, due_until)
    overdue = await state.store.search_documents(
        DocumentQuery(today=today, parties=parties, direction="incoming" if parties else "any",
                      view="overdue", limit=10)
    )  # fmt: skip
    fingerprint = hashlib.sha256(
        "|".join(f"{r.message_id}:{r.overdue_days}" for r in overdue).encode()
    ).hexdigest()[:16]
    return {"counts": dataclasses.asdict(counts), "overdue": fingerprint}


@router.get("/live")
async def live(request: Request, viewer: Seen, state: State) -> StreamingResponse:
    parties = viewer.caller.parties
    interval = state.config.ui.refresh

    # a stream ends before the API's time limit would cut it; the browser reconnects
    ends = asyncio.get_running_loop().time() + max(30.0, state.config.api.request_timeout - 10)

    async def events() -> AsyncIterator[bytes]:
        yield f"retry: {int(interval * 1000)}\n\n".encode()
        while not await request.is_disconnected() and asyncio.get_running_loop().time() < ends:
            data = await snapshot(state, parties)
            yield f"event: counts\ndata: {json.dumps(data)}\n\n".encode()
            await asyncio.sleep(interval)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
