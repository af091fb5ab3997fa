"""The shapes of the identifiers an envelope carries, as patterns and cheap checks.

A module of its own (no pydantic, no lxml) so that a command line that only checks an id
does not pay for the envelope model's imports.
"""

from __future__ import annotations

import re

PARTICIPANT_PATTERN = r"^[a-z][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$"
MESSAGE_TYPE_PATTERN = r"^\{[^{}\s]+\}[A-Za-z_][\w.-]*$"
# a MessageId as the hub writes and reads it: a UUID in lowercase, with hyphens
MESSAGE_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

_PARTICIPANT = re.compile(PARTICIPANT_PATTERN)
_MESSAGE_ID = re.compile(MESSAGE_ID_PATTERN)


def is_participant(value: str | None) -> bool:
    """Whether ``value`` is a participant id such as ``dept.finance``."""
    return bool(value) and _PARTICIPANT.match(value or "") is not None


def is_message_id(value: str | None) -> bool:
    """Whether ``value`` is a MessageId in the form the hub uses (a lowercase UUID)."""
    return bool(value) and _MESSAGE_ID.match(value or "") is not None
