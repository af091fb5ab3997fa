"""The ingest transaction in SQLite: a batch's decisions stored at once, idempotently.

A new message is written in its final ingest state with its first events and pending
deliveries; the same MessageId and digest is a duplicate, another digest a conflict (unless the
earlier one was rejected: then the corrected resubmission replaces it). A response marks its
request answered (an agency's answer executes it); an execution notice is checked against its
document by the rules and recorded, or refused in place; so is an envelope whose attachments
by reference name blobs that are not there, not of the signed size, or not the sender's.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from hub.abc import Stage, State
from hub.archive import entries
from hub.execution.rules import NoticeRefused
from hub.records import Ingested, Processed, first_events
from hub.store import sql_archive as archive
from hub.store import sql_execution as execution
from hub.store.sql_archive import insert_events
from hub.store.sql_blobs import ingest_blobs, record_refs
from hub.store.sql_timeline import record_event

if TYPE_CHECKING:
    from hub.execution.policy import ExecutionPolicy

MESSAGE_COLUMNS = (
    "message_id, digest, sender, recipient, message_type, kind, correlation_id, "
    "conversation_id, expires_at, state, reason, rules_version, received_at, updated_at"
)
_INSERT_MESSAGE = f"INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES ({', '.join('?' * 14)})"


def ingest_one(
    conn: sqlite3.Connection,
    p: Processed,
    at: str,
    hint: str | None,
    policy: ExecutionPolicy,
) -> Ingested:
    row = conn.execute(
        "SELECT digest, state FROM messages WHERE message_id = ?", (p.message_id,)
    ).fetchone()
    if row is not None and row[1] == State.REJECTED and row[0] != p.digest:
        # a corrected resubmission of something we refused: nothing of it was delivered, so
        # it gets a fresh decision (the old timeline stays, with a note)
        record_event(
            conn, p.message_id, State.NOTE, "resubmitted with other content after rejection", at
        )
        conn.execute("DELETE FROM messages WHERE message_id = ?", (p.message_id,))
        conn.execute("DELETE FROM envelopes WHERE message_id = ?", (p.message_id,))
        row = None
    if row is not None:
        digest, state = row
        if digest == p.digest:
            pending = conn.execute(
                "SELECT adapter, address FROM deliveries WHERE message_id = ? AND state = "
                "'pending'",
                (p.message_id,),
            ).fetchall()
            record_event(conn, p.message_id, State.NOTE, "resubmitted: same content, ignored", at)
            return Ingested(p, "duplicate", [tuple(r) for r in pending], existing_state=state)
        record_event(
            conn,
            p.message_id,
            State.NOTE,
            "rejected a resubmission: same MessageId with other content (conflict)",
            at,
        )
        return Ingested(p, "conflict", existing_state=state)
    refusal = ingest_blobs(conn, p)  # references to blobs that cannot stand: rejected here
    if refusal is None and p.notice is not None:
        refusal = _apply_notice(conn, p, policy, at)
    # A new message is written in its final ingest state at once, with its first events
    # (the same rows record_event would leave, in three statements instead of eleven).
    state, reason, events = first_events(p)
    conn.execute(
        _INSERT_MESSAGE,
        (
            p.message_id,
            p.digest,
            p.sender,
            p.recipient,
            p.message_type,
            p.kind,
            p.correlation_id,
            p.conversation_id,
            p.expires_at,
            state,
            reason,
            p.rules_version,
            at,
            at,
        ),
    )
    conn.execute(
        "INSERT INTO envelopes (message_id, body) VALUES (?, ?)", (p.message_id, p.envelope)
    )
    archive.append(conn, [entries.envelope(p.message_id, at, p.envelope)])
    insert_events(conn, [(p.message_id, s, at, d) for s, d in events])
    outcome = Ingested(p, "new", refusal=refusal)
    if p.state != State.ACCEPTED:
        return outcome
    if p.kind == "request":
        execution.insert_document(conn, p, at)
    conn.executemany(
        "INSERT INTO deliveries (message_id, adapter, address, state, updated_at) "
        "VALUES (?, ?, ?, 'pending', ?)",
        [(p.message_id, o.adapter, o.address, at) for o in p.outgoing],
    )
    outcome.pending = [(o.adapter, o.address) for o in p.outgoing]
    if p.blobs:
        record_refs(conn, p)
    if p.correlation_id and p.kind != "notice":  # a notice reports on a document; it answers none
        found = conn.execute(
            "SELECT 1 FROM messages WHERE message_id = ?", (p.correlation_id,)
        ).fetchone()
        if found:
            record_event(
                conn,
                p.correlation_id,
                State.ANSWERED,
                f"answered by {p.message_id} ({p.kind} from {p.sender})",
                at,
            )
            outcome.answered = p.correlation_id
            _answered_by_agency(conn, p, p.correlation_id, policy, at)
    elif hint:
        found = conn.execute(
            "SELECT recipient FROM messages WHERE message_id = ?", (hint,)
        ).fetchone()
        if found is not None and found[0] == p.sender:  # only the addressee may answer it
            record_event(
                conn,
                hint,
                State.ANSWERED,
                f"answered by {p.message_id} ({p.kind} from {p.sender}; matched by the "
                "transport's reply reference)",
                at,
            )
            outcome.answered = hint
            _answered_by_agency(conn, p, hint, policy, at)
    return outcome


def _answered_by_agency(
    conn: sqlite3.Connection, p: Processed, document: str, policy: ExecutionPolicy, at: str
) -> None:
    """An agency's answer to a document it received is its execution there (an agency reports
    no notices: its protocol's answer is what it says)."""
    if p.kind == "response" and policy.is_agency(p.sender):
        row = conn.execute(
            "SELECT recipient, executed_on FROM documents WHERE message_id = ?", (document,)
        ).fetchone()
        if row is not None and row[0] == p.sender and row[1] is None:
            execution.record_stage(
                conn, document, Stage.EXECUTED,
                f"answered by {p.sender} with {p.message_id}", at, policy.today(),
            )  # fmt: skip


def _apply_notice(
    conn: sqlite3.Connection, p: Processed, policy: ExecutionPolicy, at: str
) -> tuple[str, str] | None:
    """Record an accepted notice against its document, or turn it into a rejection (in place:
    the caller stores ``p`` as rejected, with no deliveries) when the rules refuse it."""
    if p.state != State.ACCEPTED:
        return None
    conn.execute("SAVEPOINT notice")
    try:
        execution.apply_notice(conn, p, policy, at)
    except NoticeRefused as refused:
        conn.execute("ROLLBACK TO notice")
        conn.execute("RELEASE notice")
        p.state, p.code, p.reasons = State.REJECTED, refused.code, [refused.reason]
        p.outgoing, p.receipt, p.receipt_state = [], None, None
        return refused.code, refused.reason
    conn.execute("RELEASE notice")
    return None
