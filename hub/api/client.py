"""A typed client of the hub's HTTP API (docs/api.md), on httpx: for the command line (``hub
send|inbox|trace|doc --url``) and for integrators' Python code alike.

    with HubClient("https://hub.city.example", token) as hub:
        submitted = hub.submit(envelope_bytes, wait=10)
        for item in hub.inbox(max_items=10, wait=20):
            handle(item.envelope)
            hub.ack(item.message_id)

Every refusal raises ``hub.errors.ApiError`` with the HTTP status, the stable ``code`` and the
problems the hub named; a ``429`` is waited out (its ``Retry-After``) a few times first.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Self

import httpx

from hub.api.models import (
    Allocated,
    BlobOut,
    Document,
    InboxItem,
    InboxPage,
    Me,
    MessagePage,
    MessageSummary,
    NoticeDraft,
    NoticeRequestIn,
    Submitted,
    UploadOut,
)
from hub.errors import ApiError

USER_AGENT = "interagency-hub-client/1"


class HubClient:
    """One API caller (a token, or a client certificate) against one hub."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        client_cert: tuple[str, str] | None = None,
        verify: bool | str = True,
        timeout: float = 30.0,
        rate_limit_retries: int = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"User-Agent": USER_AGENT}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.rate_limit_retries = rate_limit_retries
        self._http = httpx.Client(
            base_url=url.rstrip("/"),
            headers=headers,
            cert=client_cert,
            verify=verify,
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ messages
    def submit(self, envelope: bytes, wait: float = 0) -> Submitted:
        """Submit one signed envelope; with ``wait``, the hub's decision (else ``queued``)."""
        params = {"wait": wait} if wait else {}
        response = self._request(
            "POST",
            "/v1/envelopes",
            content=envelope,
            params=params,
            headers={"Content-Type": "application/xml"},
            timeout=self._http.timeout.read + wait if self._http.timeout.read else None,
        )
        return Submitted.model_validate(response.json())

    def trace(self, message_id: str) -> dict[str, Any]:
        """A message's way through the hub: what ``hub trace ID --json`` prints."""
        data: dict[str, Any] = self._request("GET", f"/v1/messages/{message_id}").json()
        return data

    def receipt(self, message_id: str) -> bytes:
        """A signed receipt on where the caller's message stands now."""
        return self._request("GET", f"/v1/messages/{message_id}/receipt").content

    def messages(self, page_size: int = 100, **filters: str) -> Iterator[MessageSummary]:
        """The caller's messages, newest first, page after page (filters: state,
        counterpart, type, kind, from, to — as the API names them)."""
        params: dict[str, Any] = {**filters, "limit": page_size}
        while True:
            page = MessagePage.model_validate(
                self._request("GET", "/v1/messages", params=params).json()
            )
            yield from page.items
            if page.next is None:
                return
            params["cursor"] = page.next

    def inbox(self, max_items: int = 10, wait: float = 0) -> list[InboxItem]:
        """Take up to ``max_items`` from the caller's inbox under a lease (``ack`` each)."""
        response = self._request(
            "GET",
            "/v1/inbox",
            params={"max": max_items, "wait": wait},
            timeout=self._http.timeout.read + wait if self._http.timeout.read else None,
        )
        return InboxPage.model_validate(response.json()).items

    def ack(self, message_id: str, lease: str | None = None) -> None:
        """Acknowledge a message taken from the inbox (under ``lease``: the item's)."""
        params = {"lease": lease} if lease else {}
        self._request("POST", f"/v1/inbox/{message_id}/ack", params=params)

    def me(self) -> Me:
        return Me.model_validate(self._request("GET", "/v1/me").json())

    # ------------------------------------------------------------------ documents
    def document(self, message_id: str) -> Document:
        return Document.model_validate(self._request("GET", f"/v1/documents/{message_id}").json())

    def registration_number(self, message_id: str, journal: str | None = None) -> Allocated:
        params = {"journal": journal} if journal else {}
        response = self._request(
            "POST", f"/v1/documents/{message_id}/registration-number", params=params
        )
        return Allocated.model_validate(response.json())

    def draft_notice(self, message_id: str, request: NoticeRequestIn) -> NoticeDraft:
        """The notice to sign (``hub.ops.documents.signed_notice``) and submit."""
        response = self._request(
            "POST",
            f"/v1/documents/{message_id}/notices/draft",
            json=request.model_dump(mode="json", exclude_none=True),
        )
        return NoticeDraft.model_validate(response.json())

    def execution_report(self, fmt: str = "json", **params: str) -> bytes:
        response = self._request("GET", "/v1/reports/execution", params={"format": fmt, **params})
        return response.content

    # ------------------------------------------------------------------ blobs
    def upload_blob(
        self, path: Path, sha256: str | None = None, *, chunk: int = 1024 * 1024, tries: int = 5
    ) -> BlobOut:
        """Upload a file as a blob (an attachment by reference), streamed from disk; a broken
        connection resumes from the offset the hub has. ``sha256``: the file's, if known."""
        size = path.stat().st_size
        digest = sha256 or file_sha256(path, chunk)
        upload = UploadOut.model_validate(
            self._request("POST", "/v1/blobs/uploads", json={"sha256": digest, "size": size}).json()
        )
        where = f"/v1/blobs/uploads/{upload.upload_id}"
        offset, failures = 0, 0
        while offset < size:
            before = offset
            try:
                response = self._request(
                    "PATCH", where,
                    content=_file_chunks(path, offset, chunk),
                    headers={"Content-Type": "application/octet-stream",
                             "Content-Range": f"bytes {offset}-{size - 1}/{size}"},
                    timeout=None,
                )  # fmt: skip
                offset = UploadOut.model_validate(response.json()).offset
            except ApiError as exc:
                if exc.code not in ("unavailable", "conflict", "rate_limited"):
                    raise
                offset = int(self._request("GET", where).json()["offset"])
            if offset <= before:
                failures += 1
                if failures >= tries:
                    raise ApiError(0, "unavailable", f"upload of {path} makes no progress")
        done = self._request("POST", f"{where}/complete", timeout=None)
        return BlobOut.model_validate(done.json())

    def download_blob(
        self, sha256: str, path: Path, size: int | None = None, *, tries: int = 5
    ) -> None:
        """Download a blob into ``path`` (through ``path.part``, resumed with ``Range`` after a
        broken connection), checked against ``sha256`` before it takes its name."""
        part = path.with_name(path.name + ".part")
        for attempt in range(tries):
            have = part.stat().st_size if part.exists() else 0
            headers = {"Range": f"bytes={have}-"} if have else {}
            if size is not None and have >= size:
                break
            try:
                with self._http.stream(
                    "GET", f"/v1/blobs/{sha256}", headers=headers, timeout=None
                ) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise _error(response)
                    mode = "ab" if response.status_code == 206 else "wb"
                    with part.open(mode) as out:
                        for data in response.iter_bytes():
                            out.write(data)
                        out.flush()
                        os.fsync(out.fileno())
                break
            except httpx.HTTPError:
                if attempt == tries - 1:
                    raise ApiError(0, "unavailable", f"download of {sha256} broke off") from None
        found = file_sha256(part)
        if found != sha256:
            part.unlink()
            raise ApiError(
                0, "attachment_digest_mismatch",
                f"blob {sha256}: the bytes received have SHA-256 {found}",
            )  # fmt: skip
        os.replace(part, path)

    # ------------------------------------------------------------------ plumbing
    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Any endpoint (the administration ones, say): the response, or ApiError."""
        return self._request(method, path, **kwargs)

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | Iterable[bytes] | None = None,
        json: Any = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        for attempt in range(self.rate_limit_retries + 1):
            try:
                response = self._http.request(
                    method,
                    path,
                    params=params,
                    headers=headers,
                    content=content,
                    json=json,
                    timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.HTTPError as exc:
                raise ApiError(0, "unavailable", f"{self._http.base_url}: {exc}") from None
            if response.status_code == 429 and attempt < self.rate_limit_retries:
                time.sleep(min(30.0, float(response.headers.get("Retry-After", "1"))))
                continue
            if response.status_code >= 400:
                raise _error(response)
            return response
        raise AssertionError("unreachable")  # pragma: no cover


def file_sha256(path: Path, chunk: int = 1024 * 1024) -> str:
    """A file's SHA-256 (hex), read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while data := handle.read(chunk):
            digest.update(data)
    return digest.hexdigest()


def _file_chunks(path: Path, offset: int, chunk: int) -> Iterator[bytes]:
    with path.open("rb") as handle:
        handle.seek(offset)
        while data := handle.read(chunk):
            yield data


def _error(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = str(body.get("code") or f"http_{response.status_code}")
    problems = body.get("problems") or [body.get("detail") or response.reason_phrase]
    return ApiError(response.status_code, code, [str(p) for p in problems])
