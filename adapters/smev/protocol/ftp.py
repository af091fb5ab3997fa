"""SMEV's file storage over FTP: uploads and downloads streamed chunk by chunk.

ftplib (standard library: FTP and explicit FTPS) with each blocking step in a thread
(``asyncio.to_thread``): the data socket is written or read one chunk at a time, so a 1 GB file
never sits in memory, and no new dependency is needed (aioftp is not installed here). Errors
become :class:`FileStoreUnavailable` (transient: connection, login, a broken transfer) or
:class:`FileMissing` (the server answers 550: no such file or folder).
"""

from __future__ import annotations

import asyncio
import contextlib
import ftplib
import socket
import ssl
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

from adapters.smev.errors import FileMissing, FileStoreUnavailable

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class FtpEndpoint:
    """Where SMEV's file storage is and how to log in."""

    host: str
    port: int = 21
    user: str = "anonymous"
    password: str = ""
    tls: bool = False
    timeout: float = 60.0

    def __repr__(self) -> str:  # never the password in logs
        return f"FtpEndpoint({self.host}:{self.port}, user={self.user!r}, tls={self.tls})"


def _connect(endpoint: FtpEndpoint) -> ftplib.FTP:
    ftp: ftplib.FTP = ftplib.FTP_TLS() if endpoint.tls else ftplib.FTP()
    try:
        ftp.connect(endpoint.host, endpoint.port, timeout=endpoint.timeout)
        ftp.login(endpoint.user, endpoint.password)
        if isinstance(ftp, ftplib.FTP_TLS):
            ftp.prot_p()
        ftp.voidcmd("TYPE I")  # binary: servers start in ASCII mode, which rewrites line ends
    except (OSError, ftplib.Error, EOFError) as exc:
        ftp.close()
        raise FileStoreUnavailable(
            f"FTP {endpoint.host}:{endpoint.port}: cannot log in as {endpoint.user}: {exc}"
        ) from exc
    return ftp


def _missing(exc: ftplib.Error) -> bool:
    return str(exc).startswith("550")


async def upload(
    endpoint: FtpEndpoint, folder: str, name: str, chunks: AsyncIterable[bytes]
) -> int:
    """Store ``chunks`` as ``/<folder>/<name>`` (the folder made if need be); bytes sent.
    An exception from ``chunks`` (e.g. a digest check) aborts the transfer and propagates."""
    ftp = await asyncio.to_thread(_connect, endpoint)
    sent = 0
    try:
        try:
            await asyncio.to_thread(_make_folder, ftp, folder)
            conn = await asyncio.to_thread(ftp.transfercmd, f"STOR {folder}/{name}")
        except (OSError, ftplib.Error, EOFError) as exc:
            raise FileStoreUnavailable(f"FTP STOR {folder}/{name}: {exc}") from exc
        try:
            async for chunk in chunks:
                await asyncio.to_thread(conn.sendall, chunk)
                sent += len(chunk)
        except OSError as exc:
            raise FileStoreUnavailable(f"FTP STOR {folder}/{name}: broken off: {exc}") from exc
        finally:
            _close_data(conn)
        await _transfer_done(ftp, f"STOR {folder}/{name}")
    finally:
        await asyncio.to_thread(_quit, ftp)
    return sent


def _make_folder(ftp: ftplib.FTP, folder: str) -> None:
    try:
        ftp.mkd(folder)
    except ftplib.error_perm as exc:  # 550 when it exists already (a retry)
        if not _missing(exc):
            raise


async def download(endpoint: FtpEndpoint, folder: str, name: str) -> AsyncIterator[bytes]:
    """The content of ``/<folder>/<name>``, in chunks; FileMissing if there is none."""
    ftp = await asyncio.to_thread(_connect, endpoint)
    try:
        try:
            conn = await asyncio.to_thread(ftp.transfercmd, f"RETR {folder}/{name}")
        except ftplib.error_perm as exc:
            if _missing(exc):
                raise FileMissing(f"FTP {folder}/{name}: no such file: {exc}") from exc
            raise FileStoreUnavailable(f"FTP RETR {folder}/{name}: {exc}") from exc
        except (OSError, ftplib.Error, EOFError) as exc:
            raise FileStoreUnavailable(f"FTP RETR {folder}/{name}: {exc}") from exc
        try:
            while chunk := await asyncio.to_thread(conn.recv, CHUNK):
                yield chunk
        except OSError as exc:
            raise FileStoreUnavailable(f"FTP RETR {folder}/{name}: broken off: {exc}") from exc
        finally:
            _close_data(conn)
        await _transfer_done(ftp, f"RETR {folder}/{name}")
    finally:
        await asyncio.to_thread(_quit, ftp)


async def _transfer_done(ftp: ftplib.FTP, command: str) -> None:
    """The server's word on a finished transfer (226), which says whether it kept it all."""
    try:
        await asyncio.to_thread(ftp.voidresp)
    except (OSError, ftplib.Error, EOFError) as exc:
        raise FileStoreUnavailable(f"FTP {command}: {exc}") from exc


def _close_data(conn: socket.socket) -> None:
    """End a data connection as ftplib does (TLS closed first, so the server sees the end)."""
    with contextlib.suppress(OSError, ValueError):
        if isinstance(conn, ssl.SSLSocket):
            conn.unwrap()
        else:
            conn.shutdown(socket.SHUT_RDWR)
    conn.close()


def _quit(ftp: ftplib.FTP) -> None:
    try:
        ftp.quit()
    except (OSError, ftplib.Error, EOFError):
        ftp.close()
