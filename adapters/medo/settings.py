"""``[adapters.<name>]`` of ``type = "medo"``: every key, its default and its checks.

docs/medo-adapter.md documents the same keys for operators; keep the two in step. The first
six are the issue's exact keys; the rest have defaults.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from envelopes.model import PARTICIPANT_PATTERN

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_PARTICIPANT = re.compile(PARTICIPANT_PATTERN)


class MedoSettings(BaseModel):
    """The adapter's configuration, validated once at start."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["medo"] = "medo"
    uid: str  # the administration's own MEDO GUID
    incoming: str = "medo/in"  # packages the MEDO client delivers to us
    outgoing: str = "medo/out"  # packages we hand to the MEDO client
    quarantine: str = "medo/quarantine"  # packages we could not accept, each with a reason file
    inbound_recipient: str  # the department that registers incoming official mail

    organization: str = "Администрация города"  # our name in passports and messages
    state: str = "medo/state"  # packages awaiting acknowledgment (the 72 h timeout)
    key: str = ""  # GOST R 34.10-2012 PKCS#8 key that signs our documents (.p7s)
    cert: str = ""  # its certificate
    sign_command: list[str] = Field(default_factory=list)  # or an external signer, no shell
    sign_command_format: Literal["raw", "base64"] = "raw"
    trust: list[str] = Field(default_factory=list)  # GOST CA certificates for incoming .p7s
    ack_timeout_hours: float = Field(default=72.0, gt=0)
    poll_interval: float = Field(default=5.0, gt=0)
    settle_seconds: float = Field(default=2.0, ge=0)  # a folder unchanged this long is whole
    max_package_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
    base_dir: str = ""  # relative paths resolve against it (the deployment folder)

    @field_validator("uid")
    @classmethod
    def _uid(cls, value: str) -> str:
        if not GUID.match(value):
            raise ValueError(f"uid: {value!r} is not a GUID (the administration's MEDO id)")
        return value.lower()

    @field_validator("inbound_recipient")
    @classmethod
    def _recipient(cls, value: str) -> str:
        if not _PARTICIPANT.match(value):
            raise ValueError(f"inbound_recipient: {value!r} is not a participant id")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MedoSettings:
        folders = [self.incoming, self.outgoing, self.quarantine, self.state]
        if len({str(self.path(f)) for f in folders}) < 4:
            raise ValueError("incoming, outgoing, quarantine and state must be different folders")
        if self.key and self.sign_command:
            raise ValueError("key and sign_command: give one, not both")
        if (self.key or self.sign_command) and not self.cert:
            raise ValueError("cert: required with key or sign_command (it goes into each .p7s)")
        if not self.trust:
            raise ValueError("trust: at least one GOST CA certificate for incoming signatures")
        return self

    def path(self, value: str) -> Path:
        path = Path(value)
        return path if path.is_absolute() or not self.base_dir else Path(self.base_dir) / path


def load_settings(raw: dict[str, object]) -> MedoSettings:
    """Settings from hub.toml; a ValueError names the key at fault."""
    try:
        return MedoSettings.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(p) for p in error["loc"]) or "settings"
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(message if message.startswith(f"{key}:") else f"{key}: {message}")
        raise ValueError("; ".join(problems)) from None
