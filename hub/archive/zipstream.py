"""ZIP (PKWARE APPNOTE 6.3, with Zip64) written and read member by member in bounded memory.

Python's ``zipfile`` keeps a ``ZipInfo`` object per member for the central directory, writing and
reading: a bundle of 100,000 messages has 200,000 members, and those objects alone took 100 MB to
write and 140 MB to read. Here the central directory goes to a temporary file as members are
written, and is read back one record at a time (the caller keeps what it needs, on disk: see
``hub.archive.spool``). Stored and deflated members only, no encryption, one disk.
"""

from __future__ import annotations

import shutil
import struct
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_END64 = struct.Struct("<IQHHIIQQQQ")
_LOCATOR64 = struct.Struct("<IIQI")
_MAX32 = 0xFFFFFFFF
_UTF8 = 0x800
STORED, DEFLATED = 0, 8


class ZipError(ValueError):
    """Not a ZIP this module reads, or a member whose bytes do not match its record."""


@dataclass(frozen=True)
class Member:
    name: str
    method: int
    crc: int
    compressed: int
    size: int
    offset: int  # of its local header


def _dos_time(when: float) -> tuple[int, int]:
    t = time.gmtime(when)
    return (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2), (
        ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday
    )


class ZipWriter:
    """Members one after another; the central directory spooled to a temporary file."""

    def __init__(self, path: Path) -> None:
        self.out = open(path, "wb")  # noqa: SIM115 (closed in close or abandon)
        self._directory: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self.count = 0
        self._time, self._date = _dos_time(time.time())

    def add(self, name: str, data: bytes, compress: bool = True) -> None:
        """A member from bytes in memory (a message's envelope, a small file)."""
        crc = zlib.crc32(data)
        if compress:
            packer = zlib.compressobj(1, zlib.DEFLATED, -15)
            packed = packer.compress(data) + packer.flush()
        else:
            packed = data
        self._member(name, DEFLATED if compress else STORED, crc, len(data), len(packed))
        self.out.write(packed)

    def add_stream(self, name: str, source: IO[bytes]) -> None:
        """A member from a file of any size, deflated into a temporary file first (its sizes
        and CRC go before its data)."""
        packer = zlib.compressobj(1, zlib.DEFLATED, -15)
        crc = size = 0
        with tempfile.TemporaryFile() as packed:
            while chunk := source.read(1 << 20):
                crc = zlib.crc32(chunk, crc)
                size += len(chunk)
                packed.write(packer.compress(chunk))
            packed.write(packer.flush())
            self._member(name, DEFLATED, crc, size, packed.tell())
            packed.seek(0)
            shutil.copyfileobj(packed, self.out, 1 << 20)

    def _member(self, name: str, method: int, crc: int, size: int, compressed: int) -> None:
        encoded = name.encode()
        offset = self.out.tell()
        big = size >= _MAX32 or compressed >= _MAX32
        local_extra = struct.pack("<HHQQ", 1, 16, size, compressed) if big else b""
        self.out.write(
            _LOCAL.pack(
                0x04034B50,
                45 if big else 20,
                _UTF8,
                method,
                self._time,
                self._date,
                crc,
                _MAX32 if big else compressed,
                _MAX32 if big else size,
                len(encoded),
                len(local_extra),
            )
            + encoded
            + local_extra
        )
        fields = [v for v in (size, compressed, offset) if v >= _MAX32]
        extra = struct.pack(f"<HH{len(fields)}Q", 1, 8 * len(fields), *fields) if fields else b""
        self._directory.write(
            _CENTRAL.pack(
                0x02014B50,
                45,
                45 if fields else 20,
                _UTF8,
                method,
                self._time,
                self._date,
                crc,
                min(compressed, _MAX32),
                min(size, _MAX32),
                len(encoded),
                len(extra),
                0,
                0,
                0,
                0,
                min(offset, _MAX32),
            )
            + encoded
            + extra
        )
        self.count += 1

    def close(self) -> None:
        """The central directory, then (Zip64 when needed) its end records."""
        start = self.out.tell()
        self._directory.seek(0)
        shutil.copyfileobj(self._directory, self.out, 1 << 20)
        self._directory.close()
        end = self.out.tell()
        length = end - start
        if self.count >= 0xFFFF or start >= _MAX32 or length >= _MAX32:
            self.out.write(
                _END64.pack(0x06064B50, 44, 45, 45, 0, 0, self.count, self.count, length, start)
            )
            self.out.write(_LOCATOR64.pack(0x07064B50, 0, end, 1))
        self.out.write(
            _END.pack(
                0x06054B50,
                0,
                0,
                min(self.count, 0xFFFF),
                min(self.count, 0xFFFF),
                min(length, _MAX32),
                min(start, _MAX32),
                0,
            )
        )
        self.out.close()

    def abandon(self) -> None:
        self._directory.close()
        self.out.close()


class ZipReader:
    """The members of a ZIP in the order of its central directory, read one at a time."""

    def __init__(self, path: Path) -> None:
        self.file = open(path, "rb")  # noqa: SIM115 (closed in close)
        try:
            self._start, self.count = self._find_directory()
        except (OSError, struct.error) as exc:
            self.file.close()
            raise ZipError(f"not a ZIP file ({exc})") from None

    def _find_directory(self) -> tuple[int, int]:
        size = self.file.seek(0, 2)
        tail_at = max(0, size - 65_557)
        self.file.seek(tail_at)
        tail = self.file.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < _END.size:
            raise ZipError("not a ZIP file (no end of central directory)")
        _, _, _, _, count, _, start, _ = _END.unpack_from(tail, at)
        locator = at - _LOCATOR64.size
        if locator >= 0 and tail[locator : locator + 4] == b"PK\x06\x07":
            _, _, end64, _ = _LOCATOR64.unpack_from(tail, locator)
            self.file.seek(end64)
            record = _END64.unpack(self.file.read(_END64.size))
            if record[0] != 0x06064B50:
                raise ZipError("not a ZIP file (a broken Zip64 end record)")
            count, start = record[7], record[9]
        return start, count

    def members(self) -> Iterator[Member]:
        """Every member's record, streaming through the central directory."""
        with open(self.file.name, "rb") as directory:
            directory.seek(self._start)
            for _ in range(self.count):
                fixed = directory.read(_CENTRAL.size)
                if len(fixed) < _CENTRAL.size:
                    raise ZipError("the central directory is cut short")
                record = _CENTRAL.unpack(fixed)
                if record[0] != 0x02014B50:
                    raise ZipError("the central directory is broken")
                name_len, extra_len, comment_len = record[10], record[11], record[12]
                name = directory.read(name_len).decode("utf-8", "replace")
                extra = directory.read(extra_len)
                directory.read(comment_len)
                compressed, size, offset = record[8], record[9], record[16]
                compressed, size, offset = _zip64(extra, size, compressed, offset)
                yield Member(name, record[4], record[7], compressed, size, offset)

    def chunks(self, member: Member) -> Iterator[bytes]:
        """The member's bytes, decompressed, piece by piece (ZipError at the end if they do
        not match its CRC or size)."""
        self.file.seek(member.offset)
        header = self.file.read(_LOCAL.size)
        if len(header) < _LOCAL.size or header[:4] != b"PK\x03\x04":
            raise ZipError(f"{member.name}: no local header where the directory says")
        name_len, extra_len = struct.unpack_from("<HH", header, 26)
        position = member.offset + _LOCAL.size + name_len + extra_len
        if member.method not in (STORED, DEFLATED):
            raise ZipError(f"{member.name}: compression method {member.method} is not read")
        unpacker = zlib.decompressobj(-15) if member.method == DEFLATED else None
        left, crc, size = member.compressed, 0, 0
        while left > 0:
            self.file.seek(position)  # another member may have been read in between
            raw = self.file.read(min(left, 1 << 20))
            if not raw:
                raise ZipError(f"{member.name}: cut short")
            left -= len(raw)
            position += len(raw)
            data = unpacker.decompress(raw) if unpacker is not None else raw
            crc, size = zlib.crc32(data, crc), size + len(data)
            yield data
        if unpacker is not None:
            data = unpacker.flush()
            crc, size = zlib.crc32(data, crc), size + len(data)
            yield data
        if crc != member.crc or size != member.size:
            raise ZipError(f"{member.name}: its bytes do not match its CRC or size")

    def read(self, member: Member) -> bytes:
        return b"".join(self.chunks(member))

    def lines(self, member: Member) -> Iterator[bytes]:
        """The member's lines, each ending with ``\\n`` (but perhaps the last)."""
        pending = b""
        for chunk in self.chunks(member):
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line + b"\n"
        if pending:
            yield pending

    def close(self) -> None:
        self.file.close()


def _zip64(extra: bytes, size: int, compressed: int, offset: int) -> tuple[int, int, int]:
    """The sizes and offset a Zip64 extra field gives where the record says 0xFFFFFFFF."""
    at = 0
    while at + 4 <= len(extra):
        kind, length = struct.unpack_from("<HH", extra, at)
        if kind == 1:
            values = list(struct.unpack_from(f"<{length // 8}Q", extra, at + 4))
            if size == _MAX32 and values:
                size = values.pop(0)
            if compressed == _MAX32 and values:
                compressed = values.pop(0)
            if offset == _MAX32 and values:
                offset = values.pop(0)
        at += 4 + length
    return compressed, size, offset
