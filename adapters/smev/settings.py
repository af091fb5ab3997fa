"""``[adapters.<name>]`` of ``type = "smev"``: every key, its default and its checks.

docs/smev-adapter.md documents the same keys for operators; keep the two in step.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from adapters.smev.protocol.ftp import FtpEndpoint
from envelopes.model import MESSAGE_TYPE_PATTERN, PARTICIPANT_PATTERN

_PARTICIPANT = re.compile(PARTICIPANT_PATTERN)
_MESSAGE_TYPE = re.compile(MESSAGE_TYPE_PATTERN)
_NOT_IN_ID = re.compile(r"[^a-z0-9_-]+")


class SmevSettings(BaseModel):
    """One SMEV 3 endpoint (one information system's connection to SMEV)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # ------------------------------------------------------------------------- the endpoint
    url: str
    mnemonic: str = ""  # this information system's mnemonic in SMEV (logs, traces)
    node_id: str = Field(default="", max_length=50)
    test: bool = False  # mark every SendRequest as TestMessage
    request_timeout: float = Field(default=60.0, gt=0)  # one HTTP exchange, seconds
    connect_timeout: float = Field(default=10.0, gt=0)
    ping_url: str = ""  # GET for /readyz; default: url + "?wsdl"
    max_response_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    # attachments by reference sent inline (MTOM) at most, in all: the envelope's old limit
    max_attachments_bytes: int = Field(default=32 * 1024 * 1024, ge=0)

    # ------------------------------------------ SMEV's file storage (FTP), for large files
    fs_host: str = ""  # empty: no file storage (attachments go inline, as above)
    fs_port: int = Field(default=21, ge=1, le=65535)
    fs_user: str = "anonymous"
    fs_password: str = ""
    fs_tls: bool = False  # explicit FTPS (AUTH TLS, protected data connections)
    fs_timeout: float = Field(default=60.0, gt=0)
    # an attachment by reference larger than this goes to the file storage, not inline
    fs_threshold: int = Field(default=5 * 1024 * 1024, ge=0)
    # RefAttachmentHeader/Hash: SMEV wants GOST R 34.11-2012; streebog256 here is pure Python
    fs_hash: Literal["sha256", "streebog256"] = "sha256"

    # ------------------------------------------------------------------------------ signing
    key: str = ""  # GOST R 34.10-2012 PKCS#8 (or RSA PEM) key of the information system
    cert: str = ""  # its certificate (PEM or DER)
    sign_command: list[str] = Field(default_factory=list)  # external signer argv, no shell
    sign_command_format: Literal["raw", "base64"] = "raw"
    sign_command_timeout: float = Field(default=60.0, gt=0)
    base_dir: str = ""  # relative paths resolve against it (default: the working directory)

    # ------------------------------------------------------------------------------ polling
    poll_min: float = Field(default=1.0, gt=0)
    poll_max: float = Field(default=30.0, gt=0)
    poll_responses: bool = True
    poll_requests: bool | None = None  # default: on when requests or default_recipient is set
    poll_statuses: bool = False  # GetStatus: for SMEV nodes that send statuses there (1.3)
    error_backoff_max: float = Field(default=60.0, gt=0)
    fault_retry_after: dict[str, float] = Field(default_factory=dict)  # fault name → seconds

    # ------------------------------------------------------------------- who is who on SMEV
    participants: dict[str, str] = Field(default_factory=dict)  # mnemonic → participant id
    requests: dict[str, str] = Field(default_factory=dict)  # message type → department
    default_recipient: str = ""  # department for incoming requests of other types

    # ----------------------------------------------------------------------- verification
    trust: list[str] = Field(default_factory=list)  # GOST CA certificates (PEM files)
    verify_responses: bool = True  # effective only with trust
    on_bad_signature: Literal["reject", "accept"] = "reject"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"url: {value!r} is not an http(s) URL")
        return value

    @field_validator("participants")
    @classmethod
    def _participants(cls, value: dict[str, str]) -> dict[str, str]:
        for mnemonic, participant in value.items():
            if not _PARTICIPANT.match(participant):
                raise ValueError(
                    f"participants.{mnemonic}: {participant!r} is not a participant id"
                )
        return value

    @field_validator("requests")
    @classmethod
    def _requests(cls, value: dict[str, str]) -> dict[str, str]:
        for message_type, department in value.items():
            if not (
                _MESSAGE_TYPE.match(message_type) or "://" in message_type or ":" in message_type
            ):
                raise ValueError(
                    f"requests: {message_type!r} is neither a message type ({{namespace}}Name) "
                    "nor a namespace URI"
                )
            if not _PARTICIPANT.match(department):
                raise ValueError(f"requests.{message_type}: {department!r} is not a participant id")
        return value

    @field_validator("default_recipient")
    @classmethod
    def _recipient(cls, value: str) -> str:
        if value and not _PARTICIPANT.match(value):
            raise ValueError(f"default_recipient: {value!r} is not a participant id")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SmevSettings:
        if not self.cert:
            raise ValueError("cert: required (the information system's signing certificate)")
        if not self.key and not self.sign_command:
            raise ValueError("key or sign_command: one is required to sign SMEV messages")
        if self.key and self.sign_command:
            raise ValueError("key and sign_command: give one, not both")
        if self.poll_max < self.poll_min:
            raise ValueError("poll_max must not be below poll_min")
        return self

    # ----------------------------------------------------------------------------- helpers
    @property
    def file_storage(self) -> FtpEndpoint | None:
        """SMEV's file storage, if configured."""
        if not self.fs_host:
            return None
        return FtpEndpoint(
            self.fs_host, self.fs_port, self.fs_user, self.fs_password, self.fs_tls, self.fs_timeout
        )

    def path(self, value: str) -> Path:
        path = Path(value).expanduser()
        if not path.is_absolute() and self.base_dir:
            path = Path(self.base_dir) / path
        return path

    @property
    def receives_requests(self) -> bool:
        if self.poll_requests is not None:
            return self.poll_requests
        return bool(self.requests or self.default_recipient)

    def participant(self, mnemonic: str) -> str:
        """The hub participant id of a SMEV mnemonic: the map, else ``agency.<mnemonic>``."""
        if mnemonic in self.participants:
            return self.participants[mnemonic]
        cleaned = _NOT_IN_ID.sub("-", mnemonic.strip().lower()).strip("-")
        return f"agency.{cleaned or 'unknown'}"

    def department_for(self, message_type: str) -> str:
        """The department that handles incoming requests of this type ('' if none)."""
        if message_type in self.requests:
            return self.requests[message_type]
        namespace = message_type[1:].split("}", 1)[0] if message_type.startswith("{") else ""
        if namespace and namespace in self.requests:
            return self.requests[namespace]
        return self.default_recipient
