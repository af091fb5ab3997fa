"""The simulator's FTP file storage (adapters/smev/simulator/filestore.py): what a
RefAttachmentHeaderList names must be there with its hash; recipients get FSAttachmentsList."""

from __future__ import annotations

import base64
import hashlib
import io
from ftplib import FTP
from pathlib import Path

import pytest
from lxml import etree

from adapters.smev.errors import SimulatorFault
from adapters.smev.simulator.filestore import SimFileStore, ref_headers
from adapters.smev.simulator.ns import basic


def _provided(file_uuid: str, name: str, digest: str) -> etree._Element:
    holder = etree.Element("SenderProvidedRequestData")
    headers = ref_headers([])
    header = etree.SubElement(headers, basic("RefAttachmentHeader"))
    for tag, text in (("uuid", file_uuid), ("FileName", name), ("Hash", digest)):
        etree.SubElement(header, basic(tag)).text = text
    holder.append(headers)
    return holder


def test_files_are_checked_and_listed(tmp_path: Path) -> None:
    store = SimFileStore(tmp_path / "fs")
    store.start()
    try:
        content = b"%PDF a large plan"
        ftp = FTP()
        ftp.connect(store.host, store.port, timeout=5)
        ftp.login(store.user, store.password)
        ftp.mkd("u1")
        ftp.storbinary("STOR u1/plan.pdf", io.BytesIO(content))
        ftp.quit()
        good = base64.b64encode(hashlib.sha256(content).digest()).decode()
        (found,) = store.check(_provided("u1", "plan.pdf", good))
        assert found.path.read_bytes() == content
        listing = store.listing([found])
        assert listing.findtext(f"{basic('FSAttachment')}/{basic('UserName')}") == store.user
        for provided, text in (
            (_provided("u1", "plan.pdf", "AAAA"), "не совпадает"),
            (_provided("u2", "plan.pdf", good), "не найден"),
            (_provided("..", "plan.pdf", good), "not a file"),
        ):
            with pytest.raises(SimulatorFault) as fault:
                store.check(provided)
            assert fault.value.name == "InvalidContent" and text in str(fault.value)
    finally:
        store.stop()
