"""The bundle's own ZIP writer and reader: what they write any ZIP reader reads (Zip64 past
65,535 members included), what ``zipfile`` writes they read, and members read in between
another member's stream do not disturb it."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from hub.archive.zipstream import ZipError, ZipReader, ZipWriter


def test_written_members_read_back_here_and_by_zipfile(tmp_path: Path) -> None:
    path = tmp_path / "b.zip"
    big = os.urandom(3 << 20)  # several chunks, incompressible
    writer = ZipWriter(path)
    writer.add("mimetype", b"application/vnd.etsi.asic-e+zip", compress=False)
    writer.add("messages/сообщение/envelope.xml", b"<x/>" * 1000)
    writer.add_stream("archive/entries.jsonl", io.BytesIO(big))
    for n in range(70_000):  # past the 65,535 members of a plain end record
        writer.add(f"m/{n}", b"line one\nline two")
    writer.close()

    with zipfile.ZipFile(path) as other:
        assert other.testzip() is None
        assert other.namelist()[:2] == ["mimetype", "messages/сообщение/envelope.xml"]
        assert other.getinfo("mimetype").compress_type == zipfile.ZIP_STORED
    reader = ZipReader(path)
    try:
        members = list(reader.members())
        assert len(members) == 70_003
        assert reader.read(members[0]) == b"application/vnd.etsi.asic-e+zip"
        # one member streams while others are read in between
        streamed = []
        for chunk in reader.chunks(members[2]):
            streamed.append(chunk)
            assert reader.read(members[1]) == b"<x/>" * 1000
        assert b"".join(streamed) == big
        assert list(reader.lines(members[-1])) == [b"line one\n", b"line two"]
    finally:
        reader.close()


def test_zipfiles_own_zips_are_read_and_damage_is_found(tmp_path: Path) -> None:
    path = tmp_path / "z.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.txt", b"hello " * 100)
        z.writestr("b.txt", b"world", compress_type=zipfile.ZIP_STORED)
    reader = ZipReader(path)
    members = {m.name: m for m in reader.members()}
    assert reader.read(members["a.txt"]) == b"hello " * 100
    reader.close()
    data = bytearray(path.read_bytes())
    at = data.find(b"world")
    assert at > 0
    data[at] ^= 1
    path.write_bytes(bytes(data))
    reader = ZipReader(path)
    try:
        with pytest.raises(ZipError, match="CRC"):
            reader.read({m.name: m for m in reader.members()}["b.txt"])
    finally:
        reader.close()
    (tmp_path / "not.zip").write_bytes(b"not a zip at all")
    with pytest.raises(ZipError):
        ZipReader(tmp_path / "not.zip")
