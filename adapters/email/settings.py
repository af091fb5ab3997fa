"""``[adapters.<name>]`` of ``type = "email"``: every key, its default and its checks.

docs/email.md documents the same keys for operators; keep the two in step.
"""

from __future__ import annotations

import re
import ssl
from email.utils import parseaddr
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from envelopes.model import PARTICIPANT_PATTERN

TlsMode = Literal["none", "starttls", "tls"]

_PARTICIPANT = re.compile(PARTICIPANT_PATTERN)
_DEFAULT_PORTS: dict[str, dict[str, int]] = {
    "smtp": {"none": 25, "starttls": 587, "tls": 465},
    "imap": {"none": 143, "starttls": 143, "tls": 993},
}


def _address(value: str, key: str) -> str:
    _, address = parseaddr(value)
    if not address or "@" not in address or address != value.strip():
        raise ValueError(f"{key}: {value!r} is not a bare mail address (like hub@city.example)")
    return address


class EmailSettings(BaseModel):
    """The adapter's configuration, validated once at start."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # ---------------------------------------------------------------- identity of outgoing mail
    from_address: str
    from_name: str = "Interagency exchange hub"
    reply_to: str = ""  # default: from_address (point it at the polled mailbox)
    bounce_address: str = ""  # SMTP MAIL FROM; default: reply_to, else from_address
    message_id_domain: str = ""  # default: the domain of from_address
    base_dir: str = ""  # the deployment folder: relative *_file paths resolve against it

    # ---------------------------------------------------------------------------------- SMTP
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=0, ge=0, lt=65536)  # 0: 25 / 587 / 465 by smtp_tls
    smtp_tls: TlsMode = "starttls"
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_password_file: str = ""
    smtp_ca_file: str = ""
    smtp_timeout: float = Field(default=30.0, gt=0)
    # an outgoing mail's attachments in all (inline and by reference), before base64: above
    # it the delivery fails for good, naming the sizes (mail servers refuse ~25 MB mails)
    max_attachments_bytes: int = Field(default=15 * 1024 * 1024, ge=0)

    # ---------------------------------------------------------------------------------- IMAP
    imap_host: str = ""  # empty: no inbound mail (outbound only)
    imap_port: int = Field(default=0, ge=0, lt=65536)  # 0: 143 / 993 by imap_tls
    imap_tls: TlsMode = "tls"
    imap_user: str = ""
    imap_password: str = ""
    imap_password_file: str = ""
    imap_ca_file: str = ""
    imap_timeout: float = Field(default=30.0, gt=0)
    mailbox: str = "INBOX"
    processed_folder: str = "processed"
    rejects_folder: str = "rejects"
    poll_interval: float = Field(default=30.0, gt=0)
    poll_batch: int = Field(default=50, ge=1, le=1000)
    claim_timeout: float = Field(default=300.0, gt=0)
    max_mail_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)

    # --------------------------------------------------------------------------- inbound mail
    inbound_recipient: str = ""  # recipient of plain mail that answers nothing of ours
    accept_plain_from: dict[str, str | list[str]] = Field(default_factory=dict)
    plain_attach_original: bool = True
    explain_rejects: bool = True

    @field_validator("from_address", "reply_to", "bounce_address")
    @classmethod
    def _addresses(cls, value: str, info: ValidationInfo) -> str:
        if not value:
            return value
        return _address(value, info.field_name or "address")

    @field_validator("mailbox", "processed_folder", "rejects_folder")
    @classmethod
    def _folder(cls, value: str, info: ValidationInfo) -> str:
        # non-ASCII names would need IMAP's modified UTF-7; keep folder names plain
        plain = value.isascii() and value.isprintable() and not set(value) & set('"&\\')
        if not plain or not value.strip():
            raise ValueError(f"{info.field_name}: {value!r} is not a plain ASCII folder name")
        return value

    @field_validator("inbound_recipient")
    @classmethod
    def _recipient(cls, value: str) -> str:
        if value and not _PARTICIPANT.match(value):
            raise ValueError(f"inbound_recipient: {value!r} is not a participant id")
        return value

    @field_validator("accept_plain_from")
    @classmethod
    def _plain(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        for agency, addresses in value.items():
            if not _PARTICIPANT.match(agency):
                raise ValueError(f"accept_plain_from: {agency!r} is not a participant id")
            for address in [addresses] if isinstance(addresses, str) else addresses:
                _address(address, f"accept_plain_from.{agency}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> EmailSettings:
        if not self.smtp_host:
            raise ValueError("smtp_host: required (the relay that sends the hub's mail)")
        if bool(self.smtp_password or self.smtp_password_file) and not self.smtp_user:
            raise ValueError("smtp_user: required when a password is configured")
        if self.imap_host and not self.imap_user:
            raise ValueError("imap_user: required when imap_host is set")
        if self.imap_host and len({self.mailbox, self.processed_folder, self.rejects_folder}) < 3:
            raise ValueError("mailbox, processed_folder and rejects_folder must differ")
        return self

    # ---------------------------------------------------------------------- derived values
    @property
    def domain(self) -> str:
        return (self.message_id_domain or self.from_address.rpartition("@")[2]).lower()

    @property
    def reply_address(self) -> str:
        return self.reply_to or self.from_address

    @property
    def envelope_sender(self) -> str:
        return self.bounce_address or self.reply_to or self.from_address

    def port(self, protocol: Literal["smtp", "imap"]) -> int:
        explicit = self.smtp_port if protocol == "smtp" else self.imap_port
        mode = self.smtp_tls if protocol == "smtp" else self.imap_tls
        return explicit or _DEFAULT_PORTS[protocol][mode]

    def password(self, protocol: Literal["smtp", "imap"]) -> str:
        inline = self.smtp_password if protocol == "smtp" else self.imap_password
        file = self.smtp_password_file if protocol == "smtp" else self.imap_password_file
        if file:
            return self._path(file).read_text(encoding="utf-8").strip()
        return inline

    def _path(self, value: str) -> Path:
        path = Path(value)
        return path if path.is_absolute() or not self.base_dir else Path(self.base_dir) / path

    def tls_context(self, protocol: Literal["smtp", "imap"]) -> ssl.SSLContext:
        """A certificate-verifying context; ``*_ca_file`` adds a private CA (checks stay on)."""
        ca_file = self.smtp_ca_file if protocol == "smtp" else self.imap_ca_file
        return ssl.create_default_context(cafile=str(self._path(ca_file)) if ca_file else None)

    def plain_senders(self) -> dict[str, str]:
        """Lower-cased mail address → agency id, for mail accepted without an envelope."""
        senders: dict[str, str] = {}
        for agency, addresses in self.accept_plain_from.items():
            for address in [addresses] if isinstance(addresses, str) else addresses:
                senders[address.lower()] = agency
        return senders


def load_settings(raw: dict[str, object]) -> EmailSettings:
    """Settings from hub.toml; a ValueError names the key at fault (the registry reports it)."""
    try:
        return EmailSettings.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(p) for p in error["loc"]) or "settings"
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(message if message.startswith(f"{key}:") else f"{key}: {message}")
        raise ValueError("; ".join(problems)) from None
