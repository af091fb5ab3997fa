"""Attachments by reference over HTTP (docs/api.md, decision 0023): resumable uploads checked
against the SHA-256 they announce, and downloads with ``Range``, streamed both ways — a
request's body and a blob go through in chunks, never whole in memory."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from envelopes.model import BLOB_URI_PREFIX
from hub.api.auth import Caller, authenticate, require
from hub.api.models import BlobOut, UploadIn, UploadOut
from hub.api.problems import Problem, ProblemModel
from hub.api.state import ApiState, api_state
from hub.ops.blobs import UploadError, begin_upload, finish_upload, stream_into, uploads_for
from hub.ops.tokens import Role
from hub.records import UploadRow

router = APIRouter()
Auth = Annotated[Caller, Depends(authenticate)]
State = Annotated[ApiState, Depends(api_state)]
ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ProblemModel, "content": {"application/problem+json": {}}}
    for code in (400, 401, 403, 404, 409, 413, 416, 422, 429)
}
_STATUS = {"conflict": 409, "upload_incomplete": 409, "too_large": 413, "not_found": 404,
           "attachment_digest_mismatch": 422, "unavailable": 503}  # fmt: skip
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_HEX = re.compile(r"^[0-9a-f]{64}$")


def _problem(error: UploadError) -> Problem:
    headers = {"Upload-Offset": str(error.offset)} if error.offset is not None else None
    return Problem(_STATUS.get(error.code, 409), error.code, str(error), headers=headers)


def _upload_out(upload: UploadRow, offset: int) -> UploadOut:
    link = f"/v1/blobs/uploads/{upload.upload_id}"
    return UploadOut(
        upload_id=upload.upload_id, sha256=upload.sha256, size=upload.size, offset=offset,
        links={"self": link, "complete": f"{link}/complete"},
    )  # fmt: skip


async def _own_upload(state: ApiState, caller: Caller, upload_id: str) -> UploadRow:
    require(caller, Role.PARTICIPANT)
    upload = await state.store.upload(upload_id) if re.match(r"^[0-9a-f]{32}$", upload_id) else None
    if upload is None or upload.owner != caller.participant:
        raise Problem(404, "not_found", f"no upload {upload_id} of {caller.participant}")
    return upload


@router.post(
    "/v1/blobs/uploads", status_code=201, response_model=UploadOut, responses=ERRORS,
    summary="Begin an upload",
)  # fmt: skip
async def create_upload(body: UploadIn, caller: Auth, state: State) -> UploadOut:
    """Begin uploading an attachment's content (a participant, for its own envelopes): its
    SHA-256 and size, which the hub checks when the upload is finished."""
    require(caller, Role.PARTICIPANT)
    limit = state.config.blobs.max_size
    if body.size > limit:
        raise Problem(413, "too_large", f"{body.size} bytes; a blob may have at most {limit}")
    uploads = uploads_for(state.config)
    upload = await begin_upload(state.store, uploads, caller.participant, body.sha256, body.size)
    return _upload_out(upload, 0)


@router.get("/v1/blobs/uploads/{upload_id}", response_model=UploadOut, responses=ERRORS)
async def get_upload(upload_id: str, caller: Auth, state: State) -> JSONResponse:
    """Where an upload stands: ``offset`` is where to resume (also as ``Upload-Offset``)."""
    upload = await _own_upload(state, caller, upload_id)
    offset = await uploads_for(state.config).offset(upload_id) or 0
    out = _upload_out(upload, offset)
    return JSONResponse(out.model_dump(), headers={"Upload-Offset": str(offset)})


@router.patch(
    "/v1/blobs/uploads/{upload_id}",
    response_model=UploadOut,
    responses=ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def append_upload(
    upload_id: str,
    request: Request,
    caller: Auth,
    state: State,
    content_range: Annotated[str | None, Header(description="bytes START-END/TOTAL")] = None,
) -> JSONResponse:
    """Send the next range of the content (``Content-Range: bytes START-END/TOTAL``; START must
    be the upload's offset, else ``409 conflict`` with the offset). What arrives before a
    connection breaks is kept: ask ``GET`` for the offset and go on from there."""
    upload = await _own_upload(state, caller, upload_id)
    start = 0
    if content_range:
        found = _CONTENT_RANGE.match(content_range.strip())
        if found is None:
            raise Problem(400, "invalid_request", "Content-Range: use bytes START-END/TOTAL")
        start = int(found.group(1))
        if found.group(3) != "*" and int(found.group(3)) != upload.size:
            raise Problem(400, "invalid_request", f"Content-Range: the total is {upload.size}")
    else:
        start = await uploads_for(state.config).offset(upload_id) or 0
    try:
        offset = await stream_into(uploads_for(state.config), upload, start, request.stream())
    except UploadError as exc:
        raise _problem(exc) from None
    out = _upload_out(upload, offset)
    return JSONResponse(out.model_dump(), headers={"Upload-Offset": str(offset)})


@router.post(
    "/v1/blobs/uploads/{upload_id}/complete",
    status_code=201,
    response_model=BlobOut,
    responses={**ERRORS, 503: {"model": ProblemModel}},
)
async def complete_upload(upload_id: str, caller: Auth, state: State) -> BlobOut:
    """Finish an upload: the content must be as long as announced (else ``409
    upload_incomplete`` with the offset: send the rest) and have the announced SHA-256 (else
    ``422 attachment_digest_mismatch``, and nothing is kept). Then it is a blob of the caller's
    that its envelopes may refer to."""
    upload = await _own_upload(state, caller, upload_id)
    try:
        info = await finish_upload(state.store, uploads_for(state.config), state.hub.blobs, upload)
    except UploadError as exc:
        raise _problem(exc) from None
    return _blob_out(info.digest, info.size)


@router.delete("/v1/blobs/uploads/{upload_id}", status_code=204, responses=ERRORS)
async def abort_upload(upload_id: str, caller: Auth, state: State) -> Response:
    """Give an upload up; what arrived is removed."""
    await _own_upload(state, caller, upload_id)
    await uploads_for(state.config).discard(upload_id)
    await state.store.end_upload(upload_id)
    return Response(status_code=204)


def _blob_out(digest: str, size: int) -> BlobOut:
    return BlobOut(
        sha256=digest, size=size, uri=BLOB_URI_PREFIX + digest,
        links={"self": f"/v1/blobs/{digest}"},
    )  # fmt: skip


@router.get(
    "/v1/blobs/{sha256}",
    response_class=StreamingResponse,
    responses={
        **ERRORS,
        200: {"content": {"application/octet-stream": {}}},
        206: {"description": "the range asked for"},
    },
)
async def download_blob(
    sha256: str,
    caller: Auth,
    state: State,
    range_: Annotated[str | None, Header(alias="Range", description="bytes=START-END")] = None,
) -> StreamingResponse:
    """A blob's content, streamed, whole or a ``Range`` (``206``): for its uploader and for
    whoever sent or received a message that refers to it (managers: their department's;
    auditors and administrators: all). ``ETag`` is its SHA-256."""
    digest = sha256.lower()
    if not _HEX.match(digest) or not await state.store.may_read_blob(digest, caller.parties):
        raise Problem(404, "not_found", f"no blob {sha256} that {caller.participant} may read")
    row = await state.store.blob(digest)
    assert row is not None
    size = row.size
    start, end, status = 0, size, 200
    headers = {"Accept-Ranges": "bytes", "ETag": f'"{digest}"'}
    if range_:
        found = _RANGE.match(range_.strip())
        if found is None or (not found.group(1) and not found.group(2)):
            raise Problem(416, "invalid_request", "Range: use bytes=START-END")
        if found.group(1):
            start = int(found.group(1))
            end = min(size, int(found.group(2)) + 1) if found.group(2) else size
        else:  # the last N bytes
            start = max(0, size - int(found.group(2)))
        if start >= size or end <= start:
            raise Problem(
                416, "invalid_request", f"Range: the blob has {size} bytes",
                headers={"Content-Range": f"bytes */{size}"},
            )  # fmt: skip
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    headers["Content-Length"] = str(end - start)

    async def body() -> AsyncIterator[bytes]:
        async for chunk in state.hub.blobs.get(digest, start, end):
            yield chunk

    return StreamingResponse(
        body(), status_code=status, media_type="application/octet-stream", headers=headers
    )
