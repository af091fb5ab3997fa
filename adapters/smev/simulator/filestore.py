"""The simulator's file storage: an FTP server (pyftpdlib) on 127.0.0.1 and a free port, as
SMEV's is for files too large to travel inline.

A sender uploads ``/<uuid>/<name>`` and names it in RefAttachmentHeaderList (uuid, FileName,
Hash, MimeType); the simulator checks that each file is there and has that hash (an
InvalidContent fault otherwise, as for any content it refuses) and hands the recipient the
message with an FSAttachmentsList: where the files are and the credentials to fetch them. The
auto-responder's answers echo the request's files back (a copy under a new uuid).
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from adapters.smev.crypto.gost import streebog256
from adapters.smev.errors import SimulatorFault
from adapters.smev.simulator.faults import invalid_content_fault
from adapters.smev.simulator.ns import NSMAP, basic

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredFile:
    """A file on the simulator's storage, as a RefAttachmentHeader names it."""

    uuid: str
    file_name: str
    hash: str
    mime_type: str
    path: Path


def _component(value: str) -> bool:
    return bool(value) and value not in (".", "..") and "/" not in value and "\\" not in value


class SimFileStore:
    """pyftpdlib in a thread; one user whose home is the storage's root folder."""

    def __init__(
        self,
        root: Path | None = None,
        *,
        user: str = "smev",
        password: str = "smev-sim",
        hash_name: str = "sha256",
    ) -> None:
        self.user = user
        self.password = password
        self.hash_name = hash_name  # what RefAttachmentHeader/Hash holds: sha256 | streebog256
        self._given_root = root
        self.root = root or Path()
        self.host = "127.0.0.1"
        self.port = 0
        self._server: object | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._temporary: tempfile.TemporaryDirectory[str] | None = None

    def start(self) -> None:
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.handlers import FTPHandler
        from pyftpdlib.servers import FTPServer

        if self._given_root is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="smev-sim-fs-")
            self.root = Path(self._temporary.name)
        self.root.mkdir(parents=True, exist_ok=True)
        authorizer = DummyAuthorizer()
        authorizer.add_user(self.user, self.password, str(self.root), perm="elradfmwMT")
        handler = type(
            "SimFtpHandler",
            (FTPHandler,),
            {"authorizer": authorizer, "banner": "SMEV 3 simulator file storage"},
        )
        server = FTPServer((self.host, 0), handler)
        self.port = int(server.address[1])
        self._server = server
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="smev-sim-ftp", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        server = self._server
        assert server is not None
        while not self._stopping.is_set():  # serve_forever would log each round
            server.ioloop.loop(0.05, blocking=False)  # type: ignore[attr-defined]
        server.close_all()  # type: ignore[attr-defined]

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._server = None
        if self._temporary is not None:
            self._temporary.cleanup()
            self._temporary = None

    @property
    def url(self) -> str:
        return f"ftp://{self.host}:{self.port}/"

    def path(self, file_uuid: str, file_name: str) -> Path:
        if not (_component(file_uuid) and _component(file_name)):
            raise ValueError(f"{file_uuid}/{file_name}: not a file of the storage")
        return self.root / file_uuid / file_name

    def digest_of(self, path: Path) -> str:
        """The file's hash as RefAttachmentHeader/Hash gives it (base64), read in chunks."""
        if self.hash_name == "streebog256":
            return base64.b64encode(streebog256(path.read_bytes())).decode()
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
        return base64.b64encode(digest.digest()).decode()

    def check(self, provided: etree._Element) -> list[StoredFile]:
        """The files ``provided`` names, each on the storage with its hash; else a fault."""
        found = []
        path = f"{basic('RefAttachmentHeaderList')}/{basic('RefAttachmentHeader')}"
        for header in provided.iterfind(path):
            file_uuid = (header.findtext(basic("uuid")) or "").strip()
            name = (header.findtext(basic("FileName")) or "").strip()
            wanted = (header.findtext(basic("Hash")) or "").strip()
            try:
                where = self.path(file_uuid, name)
            except ValueError as exc:
                raise _refused(str(exc)) from None
            if not where.is_file():
                raise _refused(f"Файл {file_uuid}/{name} не найден в файловом хранилище")
            actual = self.digest_of(where)
            if actual != wanted:
                raise _refused(
                    f"Хэш файла {file_uuid}/{name} ({actual}) не совпадает с указанным ({wanted})"
                )
            mime = (header.findtext(basic("MimeType")) or "application/octet-stream").strip()
            found.append(StoredFile(file_uuid, name, wanted, mime, where))
        return found

    def copy(self, item: StoredFile) -> StoredFile:
        """The same file under a new uuid (what an echoing agency uploads)."""
        fresh = str(uuid.uuid4())
        target = self.path(fresh, item.file_name)
        target.parent.mkdir()
        shutil.copyfile(item.path, target)
        return StoredFile(fresh, item.file_name, item.hash, item.mime_type, target)

    def listing(self, files: list[StoredFile]) -> etree._Element:
        """FSAttachmentsList: where each file is and how to log in to fetch it."""
        holder = etree.Element(basic("FSAttachmentsList"), nsmap=NSMAP)
        for item in files:
            entry = etree.SubElement(holder, basic("FSAttachment"))
            etree.SubElement(entry, basic("uuid")).text = item.uuid
            etree.SubElement(entry, basic("UserName")).text = self.user
            etree.SubElement(entry, basic("Password")).text = self.password
            etree.SubElement(entry, basic("FileName")).text = item.file_name
        return holder


def ref_headers(files: list[StoredFile]) -> etree._Element:
    """RefAttachmentHeaderList naming ``files`` (in an answer the simulator composes)."""
    holder = etree.Element(basic("RefAttachmentHeaderList"), nsmap=NSMAP)
    for item in files:
        header = etree.SubElement(holder, basic("RefAttachmentHeader"))
        etree.SubElement(header, basic("uuid")).text = item.uuid
        etree.SubElement(header, basic("FileName")).text = item.file_name
        etree.SubElement(header, basic("Hash")).text = item.hash
        etree.SubElement(header, basic("MimeType")).text = item.mime_type
    return holder


def _refused(message: str) -> SimulatorFault:
    return invalid_content_fault([], message)
