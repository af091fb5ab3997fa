"""The API's JSON, as pydantic models: the OpenAPI document is generated from these."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from envelopes.model import Urgency
from hub.execution.notices import RefusalReason


class Reason(BaseModel):
    code: str = Field(description="the rejection class, e.g. signature_invalid")
    text: str = Field(description="what is wrong, naming the element, certificate or rule")


class Submitted(BaseModel):
    """What became of a submitted envelope (so far)."""

    message_id: str
    state: str = Field(description="queued (not decided yet), accepted, rejected, delivered …")
    reasons: list[Reason] = Field(default_factory=list)
    links: dict[str, str]


class Delivery(BaseModel):
    adapter: str
    address: str
    state: str
    attempts: int
    last_error: str | None


class Event(BaseModel):
    state: str
    at: str
    detail: str
    kind: str = Field(description="transport or execution")


class Registration(BaseModel):
    number: str
    date: str
    journal: str


class AssignmentOut(BaseModel):
    id: str
    parent: str | None
    executor: str
    co_executors: list[str]
    deadline: str
    set_by: dict[str, str | None]


class DeadlineChangeOut(BaseModel):
    assignment: str
    department: str
    person: str | None
    old: str
    new: str
    reason: str
    at: str


class Execution(BaseModel):
    """Where a document's execution stands; each part null until reached."""

    stage: str | None
    registration: Registration | None
    executor: str | None
    deadline: str | None
    overdue: bool | None
    closed_at: str | None
    on_control: bool
    executed_on: str | None
    executed_on_time: bool | None
    refusal: str | None
    answer: str | None
    assignments: list[AssignmentOut]
    deadline_changes: list[DeadlineChangeOut]
    card: dict[str, Any] | None


class Trace(BaseModel):
    """A message's way through the hub: what ``hub trace --json`` prints."""

    message_id: str
    state: str
    sender: str | None
    recipient: str | None
    message_type: str | None
    kind: str | None
    correlation_id: str | None
    reason: str | None
    rules_version: str | None
    deliveries: list[Delivery]
    answers: list[str]
    events: list[Event]
    execution: Execution | None


class MessageSummary(BaseModel):
    message_id: str
    state: str
    sender: str | None
    recipient: str | None
    message_type: str | None
    kind: str | None
    correlation_id: str | None
    received_at: str
    updated_at: str
    reason: str | None


class MessagePage(BaseModel):
    items: list[MessageSummary]
    next: str | None = Field(description="the cursor of the next page (none: the last page)")


class LeaseOut(BaseModel):
    id: str
    expires_in: float = Field(description="seconds until the message goes back to the inbox")


class InboxItem(BaseModel):
    message_id: str
    sender: str
    kind: str
    type: str = Field(description="the payload's {namespace}root ('' for a receipt)")
    lease: LeaseOut
    envelope: str = Field(description="the countersigned envelope, as XML text")


class InboxPage(BaseModel):
    items: list[InboxItem]


class Certificate(BaseModel):
    file: str
    subject: str
    serial: str
    not_after: str
    days_left: float


class Me(BaseModel):
    participant: str
    role: str
    department: str | None
    via: str
    certificates: list[Certificate]


class Document(BaseModel):
    message_id: str
    sender: str
    recipient: str
    received_at: str
    execution: Execution


class Allocated(BaseModel):
    number: str
    date: str
    journal: str
    state: str


class TokenOut(BaseModel):
    id: str
    participant: str
    role: str
    department: str | None
    label: str
    created_at: str
    created_by: str
    revoked_at: str | None


class TokenCreated(TokenOut):
    token: str = Field(description="the bearer token: shown once, never again")


class TokenRequest(BaseModel):
    participant: str
    role: str = "participant"
    department: str | None = None
    label: str = ""
    reason: str = ""


class Reasoned(BaseModel):
    """An administrator's action: the reason goes into the audit log."""

    reason: str = Field(min_length=1, max_length=2000)


class AuditOut(BaseModel):
    id: int
    at: str
    actor: str
    role: str
    action: str
    target: str
    reason: str
    detail: dict[str, Any]


class DeadLetterOut(BaseModel):
    message_id: str
    adapter: str
    address: str
    destination: str
    error: str
    at: str
    headers: dict[str, str]
    size: int


class ReloadResult(BaseModel):
    result: str = Field(description="applied, unchanged or refused")
    version: str
    previous: str
    problems: list[str] = Field(default_factory=list)
    nodes: list[str] = Field(
        default_factory=list,
        description="the other hub nodes alive on the store, asked to reload too (each answers "
        "on its own: GET /v1/admin/nodes shows the rules each has in force)",
    )


class NodeOut(BaseModel):
    node: str
    started_at: str
    seen_ago: float = Field(description="seconds since its last heartbeat")
    version: str = Field(description="the hub's software version on it")
    rules_version: str = Field(description="the routing rules it has in force")
    api: str | None
    metrics: str | None
    jobs: list[str] = Field(description="the jobs it does for every node (their leases)")


class RulesVersionOut(BaseModel):
    version: str
    applied_at: str
    summary: str


class BreakerOut(BaseModel):
    destination: str
    state: str
    failures: int
    last_error: str
    since: str | None


class ParticipantOut(BaseModel):
    participant: str
    department: bool = Field(description="a department with an inbox here (else an agency)")
    groups: list[str]
    certificates: list[Certificate]
    registered_fingerprints: int


ReportedStage = Literal[
    "registered",
    "registration_refused",
    "executor_assigned",
    "deadline_changed",
    "in_progress",
    "report_prepared",
    "executed",
    "control_closed",
]


class NoticeRequestIn(BaseModel):
    """What a department reports about a document it received; the hub fills in the rest."""

    stage: ReportedStage
    person: str | None = Field(default=None, description="who acts, as written")
    post: str | None = None
    number: str | None = Field(default=None, description="registered: own number (default: next)")
    date: dt.date | None = Field(default=None, description="registered: with an own number")
    journal: str | None = None
    reason: RefusalReason | None = Field(default=None, description="registration_refused: why")
    text: str | None = None
    executor: str | None = Field(default=None, description="executor_assigned: who")
    co_executors: list[str] = Field(default_factory=list)
    deadline: dt.date | None = Field(default=None, description="default: from the urgency")
    urgency: Urgency | None = None
    parent: str | None = Field(default=None, description="the assignment this one splits")
    assignment: str | None = Field(default=None, description="default: the resolution")
    answer: str | None = Field(default=None, description="executed: the answer's MessageId")


class NoticeDraft(BaseModel):
    """A notice to sign: put ``payload`` into an envelope of Kind notice from the caller to
    ``recipient`` with CorrelationId ``document``, sign it, and submit it."""

    document: str
    recipient: str
    payload: str = Field(description="the execution notice, as XML text")
    notes: list[str] = Field(description="defaults the hub worked out (a number, a deadline)")


class UploadIn(BaseModel):
    """An upload to begin: the content it will be, which the hub checks when it is finished."""

    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="SHA-256 of the whole content")
    size: int = Field(ge=0, description="bytes")


class UploadOut(BaseModel):
    """An upload under way: send its bytes with ``PATCH`` (``Content-Range``), resume from
    ``offset``, finish with ``POST …/complete``."""

    upload_id: str
    sha256: str
    size: int
    offset: int = Field(description="bytes received so far: where the next range starts")
    links: dict[str, str]


class BlobOut(BaseModel):
    """A blob the hub keeps: refer to it in an envelope as ``uri`` (``Reference/@Uri``)."""

    sha256: str
    size: int
    uri: str = Field(description="blob:sha256:<hex>, the content reference")
    links: dict[str, str]
