"""Real mail servers on 127.0.0.1 for the email adapter's tests.

- IMAP: Debian's Dovecot (``dovecot-imapd``) with a throwaway configuration and maildirs in a
  temporary folder, one per test session, plaintext login allowed, STARTTLS and implicit TLS
  with a self-signed certificate. Any user name logs in with the password ``secret``, so every
  test gets a fresh, empty mailbox by choosing a new user name. Without /usr/sbin/dovecot the
  tests skip; with ``CI`` set they fail instead.
- SMTP: an aiosmtpd Controller per test that records what it receives and can refuse chosen
  recipients with chosen replies.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import grp
import ipaddress
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import aioimaplib
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from adapters.email.imap import folder_name

DOVECOT = Path("/usr/sbin/dovecot")
PASSWORD = "secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_dovecot() -> None:
    if DOVECOT.exists():
        return
    if os.environ.get("CI"):
        pytest.fail("dovecot-imapd is not installed (/usr/sbin/dovecot), and CI requires it")
    pytest.skip("no Dovecot: apt-get install dovecot-imapd")


# ------------------------------------------------------------------------------------- TLS
@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.cert), str(self.key))
        return context


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A self-signed certificate for 127.0.0.1 and localhost (the tests' private CA file)."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    files = TlsFiles(folder / "cert.pem", folder / "key.pem")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


# ----------------------------------------------------------------------------------- IMAP
@dataclass
class Dovecot:
    """A running Dovecot; ``user()`` names a fresh mailbox."""

    host: str
    port: int  # plaintext, STARTTLS offered
    tls_port: int  # implicit TLS
    folder: Path

    def user(self) -> str:
        return "u" + uuid.uuid4().hex[:12]


def _dovecot_config(folder: Path, port: int, tls_port: int, tls: TlsFiles) -> str:
    if os.geteuid() == 0:
        # Dovecot refuses root for its login processes and for mail access
        login_user, internal_user = "dovenull", "dovecot"
        mail_user, mail_group = "nobody", grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
    else:
        me = pwd.getpwuid(os.getuid()).pw_name
        login_user = internal_user = mail_user = me
        mail_group = grp.getgrgid(os.getgid()).gr_name
    return f"""
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
info_log_path = {folder}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{tls.cert}
ssl_key = <{tls.key}
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {grp.getgrgid(pwd.getpwnam(internal_user).pw_gid).gr_name}
mail_location = maildir:{folder}/mail/%u
first_valid_uid = 1
passdb {{
  driver = static
  args = password={PASSWORD}
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_group} home={folder}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
"""


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            text = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(f"dovecot exited with {process.returncode}: {text}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.settimeout(2)
                if s.recv(100).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("dovecot did not start listening")


@pytest.fixture(scope="session")
def dovecot_server(tls_files: TlsFiles) -> Iterator[Dovecot | None]:
    if not DOVECOT.exists():
        yield None
        return
    # a short path readable by Dovecot's unprivileged processes (unix sockets live in it)
    folder = Path(tempfile.mkdtemp(prefix="hubdv-"))
    folder.chmod(0o755)
    (folder / "mail").mkdir()
    tls = TlsFiles(folder / "cert.pem", folder / "key.pem")
    shutil.copyfile(tls_files.cert, tls.cert)
    shutil.copyfile(tls_files.key, tls.key)
    tls.key.chmod(0o600)
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(folder / "mail", nobody.pw_uid, nobody.pw_gid)
    port, tls_port = free_port(), free_port()
    config = folder / "dovecot.conf"
    config.write_text(_dovecot_config(folder, port, tls_port, tls))
    process = subprocess.Popen(
        [str(DOVECOT), "-F", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_port(port, process, folder / "dovecot.log")
        yield Dovecot("127.0.0.1", port, tls_port, folder)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def dovecot(dovecot_server: Dovecot | None) -> Dovecot:
    require_dovecot()
    assert dovecot_server is not None
    return dovecot_server


class ImapHelper:
    """What a test does to a mailbox from outside: put mail in, look at the folders."""

    def __init__(self, server: Dovecot, user: str) -> None:
        self.server = server
        self.user = user

    async def _client(self) -> Any:
        client = aioimaplib.IMAP4(self.server.host, self.server.port, timeout=10)
        await client.wait_hello_from_server()
        response = await client.login(self.user, PASSWORD)
        assert response.result == "OK", response
        return client

    async def append(self, raw: bytes | EmailMessage, folder: str = "INBOX") -> None:
        data = raw if isinstance(raw, bytes) else raw.as_bytes()
        client = await self._client()
        try:
            response = await client.append(data, mailbox=folder)
            assert response.result == "OK", response
        finally:
            await client.logout()

    async def messages(self, folder: str) -> list[EmailMessage]:
        client = await self._client()
        try:
            response = await client.select(folder_name(folder))
            if response.result != "OK":
                return []
            response = await client.fetch("1:*", "(BODY.PEEK[])")
            found: list[EmailMessage] = []
            for n, line in enumerate(response.lines[:-1]):
                if isinstance(line, bytes) and line.rstrip().endswith(b"}"):
                    message = BytesParser(policy=default_policy).parsebytes(
                        bytes(response.lines[n + 1])
                    )
                    assert isinstance(message, EmailMessage)
                    found.append(message)
            return found
        finally:
            await client.logout()

    async def count(self, folder: str) -> int:
        client = await self._client()
        try:
            response = await client.status(folder_name(folder), "(MESSAGES)")
            if response.result != "OK":
                return 0
            text = bytes(response.lines[0]).decode()
            return int(text.rsplit("MESSAGES", 1)[1].strip(" )"))
        finally:
            await client.logout()

    async def wait_count(self, folder: str, n: int, within: float = 10) -> None:
        deadline = time.monotonic() + within
        while True:
            count = await self.count(folder)
            if count == n:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{folder} holds {count} mails, expected {n}")
            await asyncio.sleep(0.1)


@pytest.fixture
def imap(dovecot: Dovecot) -> ImapHelper:
    return ImapHelper(dovecot, dovecot.user())


# ----------------------------------------------------------------------------------- SMTP
@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes


@dataclass
class Recorder:
    """An aiosmtpd handler: keeps every mail; ``refuse`` maps an address to an SMTP reply."""

    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = BytesParser(policy=default_policy).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        self.received.append(
            Received(str(envelope.mail_from), list(envelope.rcpt_tos), message, raw)
        )
        return "250 2.0.0 queued"

    async def wait(self, n: int = 1, within: float = 10) -> list[Received]:
        deadline = time.monotonic() + within
        while len(self.received) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"SMTP server got {len(self.received)} mails, expected {n}")
            await asyncio.sleep(0.05)
        return self.received

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]


@dataclass
class SmtpServer:
    host: str
    port: int
    recorder: Recorder


def _start(controller: Controller) -> None:
    controller.start()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    _start(controller)
    try:
        yield SmtpServer("127.0.0.1", port, recorder)
    finally:
        controller.stop()


class _Credentials:
    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user.encode(), password.encode()

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            self.user,
            self.password,
        )
        return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_starttls(tls_files: TlsFiles) -> Iterator[SmtpServer]:
    """STARTTLS required, then AUTH as hub / hub-password."""
    recorder = Recorder()
    port = free_port()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=port,
        tls_context=tls_files.server_context(),
        require_starttls=True,
        authenticator=_Credentials("hub", "hub-password"),
        auth_required=True,
    )
    _start(controller)
    try:
        yield SmtpServer("127.0.0.1", port, recorder)
    finally:
        controller.stop()


async def wait_until(predicate: Any, within: float = 10, what: str = "condition") -> Any:
    """Poll an async predicate until it returns something truthy."""
    deadline = time.monotonic() + within
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
