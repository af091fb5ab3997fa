"""The HTTP side of SMEV 3: POST a SOAP document to one endpoint, read the reply or its fault.

Requests go as plain ``text/xml`` (SOAP 1.1, ``SOAPAction: "urn:<operation>"``); replies are
read by :func:`adapters.smev.protocol.soap.parse_reply` (plain or MTOM), and a SOAP fault in
them is raised as :class:`~adapters.smev.errors.SmevFault`.
"""

from __future__ import annotations

import aiohttp

from adapters.smev.errors import ProtocolError, TransportError
from adapters.smev.protocol.soap import Reply, localname, parse_fault, parse_reply


class SoapClient:
    """POSTs SOAP documents to one SMEV endpoint; faults are raised as :class:`SmevFault`."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        connect_timeout: float,
        max_bytes: int,
    ) -> None:
        self.url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout)
        self._max_bytes = max_bytes
        self._session: aiohttp.ClientSession | None = None

    def _ensure(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def call(self, action: str, document: bytes) -> Reply:
        """One SOAP exchange. Raises SmevFault, TransportError or ProtocolError."""
        session = self._ensure()
        headers = {
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": f'"urn:{action}"',
            "Accept": "text/xml, multipart/related",
        }
        try:
            async with session.post(self.url, data=document, headers=headers) as response:
                data = await response.content.read(self._max_bytes + 1)
                status = response.status
                content_type = response.headers.get("Content-Type", "")
        except TimeoutError as exc:
            raise TransportError(f"{action}: no answer within the timeout") from exc
        except aiohttp.ClientError as exc:
            raise TransportError(f"{action}: {exc.__class__.__name__}: {exc}") from exc
        except OSError as exc:
            raise TransportError(f"{action}: {exc}") from exc
        if len(data) > self._max_bytes:
            raise TransportError(f"{action}: reply larger than {self._max_bytes} bytes", status)
        try:
            reply = parse_reply(content_type, data) if data.strip() else None
        except ProtocolError:
            if status >= 400:
                raise TransportError(f"{action}: HTTP {status}", status) from None
            raise
        if reply is not None:
            try:
                body = reply.body
            except ProtocolError:
                if status >= 400:
                    raise TransportError(f"{action}: HTTP {status}", status) from None
                raise
            if localname(body) == "Fault":
                raise parse_fault(body)
        if status >= 400 or reply is None:
            raise TransportError(f"{action}: HTTP {status}", status)
        return reply

    async def reachable(self, url: str, timeout: float) -> bool:
        """A GET that consumes nothing (for /readyz): any HTTP answer below 500 is 'up'."""
        session = self._ensure()
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as r:
                return r.status < 500
        except (aiohttp.ClientError, OSError, TimeoutError):
            return False

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
