"""Execution control in SQLite: documents, resolutions, journals — statements on one connection.

Each function runs inside a transaction the caller (SqliteStore) holds, so a notice is checked
against the document's state and recorded in one step, and a registration number is handed out
in the same step that records it (numbers never skip, never repeat).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import replace
from typing import TYPE_CHECKING

from hub.abc import Stage
from hub.execution.rules import Answer, Assignment, Document, NoticeRefused, apply
from hub.records import (
    ControlCounts,
    DeadlineChange,
    DocumentRecord,
    Due,
    Processed,
    Registration,
)
from hub.store.sql_timeline import record_event

if TYPE_CHECKING:
    from hub.execution.policy import ExecutionPolicy

DELIVERED_STATES = ("delivered", "acknowledged", "answered")
_DOC_COLUMNS = (
    "d.message_id, d.sender, d.recipient, d.stage, d.number, d.registered_on, d.journal, "
    "d.refusal, d.executed_on, d.executed_on_time, d.answer, d.report, d.closed_on, "
    "m.state, d.card, d.received_at"
)
_ON_CONTROL = "deadline IS NOT NULL AND executed_on IS NULL AND closed_on IS NULL"


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


# ------------------------------------------------------------------------------ documents
def insert_document(conn: sqlite3.Connection, p: Processed, at: str) -> None:
    """A newly accepted request becomes a document its recipient may execute."""
    card = p.card
    cursor = conn.execute(
        "INSERT INTO documents (message_id, sender, recipient, received_at, card, "
        "title, urgency, control_term, card_kind, card_number, card_date, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (
            p.message_id,
            p.sender,
            p.recipient,
            at,
            card.model_dump_json() if card is not None else None,
            card.title if card is not None else None,
            card.urgency.value if card is not None else None,
            _iso(card.control_term) if card is not None else None,
            card.kind.value if card is not None else None,
            card.number if card is not None else None,
            _iso(card.date) if card is not None else None,
            at,
        ),
    )
    if cursor.rowcount and card is not None and card.title:
        titled = conn.execute(
            "INSERT INTO document_titles (title, message_id) VALUES (?, ?)",
            (card.title, p.message_id),
        )
        if getattr(conn, "dialect", "sqlite") == "sqlite":  # where retention finds it
            conn.execute(
                "UPDATE documents SET title_row = ? WHERE message_id = ?",
                (titled.lastrowid, p.message_id),
            )


def load_record(conn: sqlite3.Connection, message_id: str) -> DocumentRecord | None:
    row = conn.execute(
        f"SELECT {_DOC_COLUMNS} FROM documents d LEFT JOIN messages m USING (message_id) "
        "WHERE d.message_id = ?",
        (message_id,),
    ).fetchone()
    if row is None:
        return None
    assignments = tuple(
        Assignment(
            id=a[0],
            parent=a[1],
            executor=a[2],
            co_executors=tuple(json.loads(a[3])),
            deadline=dt.date.fromisoformat(a[4]),
            set_by_department=a[5],
            set_by_person=a[6],
            urgency=a[7],
            text=a[8],
        )
        for a in conn.execute(
            "SELECT id, parent, executor, co_executors, deadline, set_by_department, "
            "set_by_person, urgency, text FROM assignments WHERE message_id = ? "
            "ORDER BY position",
            (message_id,),
        )
    )
    state = Document(
        message_id=row[0],
        sender=row[1],
        recipient=row[2],
        delivered=row[13] in DELIVERED_STATES,
        stage=Stage(row[3]) if row[3] else None,
        number=row[4],
        registered_on=_date(row[5]),
        journal=row[6],
        refusal=row[7],
        assignments=assignments,
        executed_on=_date(row[8]),
        executed_on_time=None if row[9] is None else bool(row[9]),
        answer=row[10],
        report=row[11],
        closed_on=_date(row[12]),
    )
    changes = [
        DeadlineChange(
            c[0], c[1], c[2], dt.date.fromisoformat(c[3]), dt.date.fromisoformat(c[4]), c[5], c[6]
        )
        for c in conn.execute(
            "SELECT assignment, department, person, old, new, reason, at FROM deadline_changes "
            "WHERE message_id = ? ORDER BY id",
            (message_id,),
        )
    ]
    card = None
    if row[14]:
        from envelopes.model import DocumentCard  # pydantic: not on the CLI's start-up path

        card = DocumentCard.model_validate_json(row[14])
    return DocumentRecord(state=state, card=card, received_at=row[15], changes=changes)


def save(conn: sqlite3.Connection, before: Document, after: Document, at: str) -> None:
    """Write what a rule changed: the document row, new assignments, moved deadlines."""
    conn.execute(
        "UPDATE documents SET stage = ?, number = ?, registered_on = ?, journal = ?, "
        "refusal = ?, executor = ?, deadline = ?, executed_on = ?, executed_on_time = ?, "
        "answer = ?, report = ?, closed_on = ?, updated_at = ? WHERE message_id = ?",
        (
            after.stage.value if after.stage else None,
            after.number,
            _iso(after.registered_on),
            after.journal,
            after.refusal,
            after.executor,
            _iso(after.deadline),
            _iso(after.executed_on),
            None if after.executed_on_time is None else int(after.executed_on_time),
            after.answer,
            after.report,
            _iso(after.closed_on),
            at,
            after.message_id,
        ),
    )
    known = {a.id: a for a in before.assignments}
    for position, assignment in enumerate(after.assignments):
        old = known.get(assignment.id)
        if old is None:
            conn.execute(
                "INSERT INTO assignments (id, message_id, position, parent, executor, "
                "co_executors, deadline, set_by_department, set_by_person, urgency, text, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    assignment.id,
                    after.message_id,
                    position,
                    assignment.parent,
                    assignment.executor,
                    json.dumps(list(assignment.co_executors), ensure_ascii=False),
                    assignment.deadline.isoformat(),
                    assignment.set_by_department,
                    assignment.set_by_person,
                    assignment.urgency,
                    assignment.text,
                    at,
                ),
            )
        elif old.deadline != assignment.deadline:
            conn.execute(
                "UPDATE assignments SET deadline = ? WHERE id = ?",
                (assignment.deadline.isoformat(), assignment.id),
            )


# ------------------------------------------------------------------------------ notices
def apply_notice(conn: sqlite3.Connection, p: Processed, policy: ExecutionPolicy, at: str) -> None:
    """Check a notice against its document and record it; NoticeRefused if the rules say no."""
    notice = p.notice
    assert notice is not None
    record = load_record(conn, notice.document)
    answer = _answer(conn, notice.answer) if notice.answer else None
    before = record.state if record is not None else None
    after, line = apply(
        before,
        notice,
        sender=p.sender or "",
        recipient=p.recipient or "",
        correlation_id=p.correlation_id,
        calendar=policy.calendar,
        today=policy.today(),
        answer=answer,
    )
    assert before is not None  # apply refuses an unknown document
    if notice.stage == Stage.REGISTERED:
        _confirm_number(conn, after, policy, at)
    elif notice.stage == Stage.REGISTRATION_REFUSED:
        conn.execute(
            "UPDATE registrations SET state = 'annulled', at = ? "
            "WHERE message_id = ? AND state = 'allocated'",
            (at, after.message_id),
        )
    elif notice.stage == Stage.DEADLINE_CHANGED:
        assert notice.old_deadline is not None and notice.deadline is not None
        target = before.assignment(notice.assignment)
        assert target is not None
        conn.execute(
            "INSERT INTO deadline_changes (message_id, assignment, department, person, old, "
            "new, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                after.message_id,
                target.id,
                notice.department,
                notice.person.name if notice.person else None,
                notice.old_deadline.isoformat(),
                notice.deadline.isoformat(),
                notice.text or "",
                at,
            ),
        )
    save(conn, before, after, at)
    record_event(conn, after.message_id, notice.stage, f"{line} (notice {p.message_id})", at)


def _answer(conn: sqlite3.Connection, message_id: str) -> Answer | None:
    row = conn.execute(
        "SELECT kind, sender, correlation_id FROM messages WHERE message_id = ? "
        "AND state NOT IN ('rejected', 'received')",
        (message_id,),
    ).fetchone()
    return Answer(message_id, row[0], row[1], row[2]) if row is not None else None


def _confirm_number(
    conn: sqlite3.Connection, doc: Document, policy: ExecutionPolicy, at: str
) -> None:
    """A registration's number: the one allocated for the document, or the department's own
    (unique in its journal and year)."""
    assert doc.number is not None and doc.registered_on is not None
    journal = policy.journal(doc.recipient, doc.journal)
    allocated = conn.execute(
        "SELECT number FROM registrations WHERE message_id = ? AND department = ? "
        "AND journal = ? AND state = 'allocated'",
        (doc.message_id, doc.recipient, journal.name),
    ).fetchone()
    if allocated is not None:
        if allocated[0] != doc.number:
            raise NoticeRefused(
                "number_mismatch",
                f"journal {journal.name} of {doc.recipient} gave document {doc.message_id} "
                f"№ {allocated[0]}, the notice says № {doc.number}",
            )
        conn.execute(
            "UPDATE registrations SET state = 'registered', at = ? WHERE message_id = ? "
            "AND department = ? AND journal = ?",
            (at, doc.message_id, doc.recipient, journal.name),
        )
        return
    year = doc.registered_on.year
    taken = conn.execute(
        "SELECT message_id FROM registrations WHERE department = ? AND journal = ? AND year = ? "
        "AND number = ?",
        (doc.recipient, journal.name, year, doc.number),
    ).fetchone()
    if taken is not None:
        raise NoticeRefused(
            "duplicate_registration_number",
            f"№ {doc.number} is taken in journal {journal.name} of {doc.recipient} for {year} "
            f"(document {taken[0]})",
        )
    conn.execute(
        "INSERT INTO registrations (department, journal, year, number, seq, message_id, state, "
        "registered_on, at) VALUES (?, ?, ?, ?, NULL, ?, 'registered', ?, ?)",
        (
            doc.recipient,
            journal.name,
            year,
            doc.number,
            doc.message_id,
            doc.registered_on.isoformat(),
            at,
        ),
    )


# ------------------------------------------------------------------------------ journals
def allocate(
    conn: sqlite3.Connection,
    message_id: str,
    department: str,
    journal_name: str | None,
    policy: ExecutionPolicy,
    at: str,
) -> Registration:
    """The next number of a department's journal for a document (the same one if asked again)."""
    record = load_record(conn, message_id)
    if record is None:
        raise NoticeRefused("unknown_document", f"no document {message_id} on record")
    doc = record.state
    if doc.recipient != department:
        raise NoticeRefused(
            "not_the_recipient",
            f"{department} did not receive document {message_id} (its recipient is "
            f"{doc.recipient})",
        )
    journal = policy.journal(department, journal_name)
    existing = conn.execute(
        "SELECT number, registered_on, state, seq FROM registrations WHERE message_id = ? "
        "AND department = ? AND journal = ?",
        (message_id, department, journal.name),
    ).fetchone()
    if existing is not None:
        if existing[2] == "annulled":
            raise NoticeRefused(
                "registration_refused", f"document {message_id} was refused registration"
            )
        return Registration(
            message_id,
            department,
            journal.name,
            existing[0],
            dt.date.fromisoformat(existing[1]),
            existing[2],
            existing[3],
        )
    if doc.stage == Stage.REGISTRATION_REFUSED:
        raise NoticeRefused(
            "registration_refused",
            f"document {message_id} was refused registration ({doc.refusal})",
        )
    if doc.stage is not None:
        raise NoticeRefused(
            "already_registered",
            f"document {message_id} is registered already (№ {doc.number})",
        )
    today = policy.today()
    year = today.year
    row = conn.execute(
        "SELECT last FROM journal_counters WHERE department = ? AND journal = ? AND year = ?",
        (department, journal.name, year),
    ).fetchone()
    seq = (row[0] if row else 0) + 1
    while True:  # a department's own number may already stand where the sequence goes
        number = journal.number(seq, year)
        clash = conn.execute(
            "SELECT 1 FROM registrations WHERE department = ? AND journal = ? AND year = ? "
            "AND number = ?",
            (department, journal.name, year, number),
        ).fetchone()
        if clash is None:
            break
        seq += 1
    conn.execute(
        "INSERT INTO journal_counters (department, journal, year, last) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (department, journal, year) DO UPDATE SET last = excluded.last",
        (department, journal.name, year, seq),
    )
    conn.execute(
        "INSERT INTO registrations (department, journal, year, number, seq, message_id, state, "
        "registered_on, at) VALUES (?, ?, ?, ?, ?, ?, 'allocated', ?, ?)",
        (department, journal.name, year, number, seq, message_id, today.isoformat(), at),
    )
    return Registration(message_id, department, journal.name, number, today, "allocated", seq)


def register_on_delivery(
    conn: sqlite3.Connection, message_id: str, policy: ExecutionPolicy, at: str
) -> Registration | None:
    """Register a delivered document in its recipient's default journal, where the recipient
    asked the hub to (``auto_register``); None if not or if it is registered already."""
    row = conn.execute(
        "SELECT recipient, stage FROM documents WHERE message_id = ?", (message_id,)
    ).fetchone()
    if row is None or row[1] is not None or not policy.registers_on_delivery(row[0]):
        return None
    allocated = allocate(conn, message_id, row[0], None, policy, at)
    conn.execute(
        "UPDATE registrations SET state = 'registered' WHERE message_id = ? AND department = ? "
        "AND journal = ?",
        (message_id, row[0], allocated.journal),
    )
    conn.execute(
        "UPDATE documents SET stage = ?, number = ?, registered_on = ?, journal = ?, "
        "updated_at = ? WHERE message_id = ?",
        (
            Stage.REGISTERED.value,
            allocated.number,
            allocated.registered_on.isoformat(),
            allocated.journal,
            at,
            message_id,
        ),
    )
    record_event(
        conn,
        message_id,
        Stage.REGISTERED,
        f"№ {allocated.number} of {allocated.registered_on.isoformat()} in journal "
        f"{allocated.journal}; by the hub for {row[0]}, on delivery",
        at,
    )
    return replace(allocated, state="registered")


def journal_entries(
    conn: sqlite3.Connection, department: str, journal: str, year: int
) -> list[Registration]:
    return [
        Registration(r[0], department, journal, r[1], dt.date.fromisoformat(r[2]), r[3], r[4])
        for r in conn.execute(
            "SELECT message_id, number, registered_on, state, seq FROM registrations "
            "WHERE department = ? AND journal = ? AND year = ? ORDER BY seq, number",
            (department, journal, year),
        )
    ]


# ------------------------------------------------------------------------------ the hub's own
def record_stage(
    conn: sqlite3.Connection,
    message_id: str,
    stage: Stage,
    detail: str,
    at: str,
    today: dt.date,
) -> bool:
    """A stage the hub asserts (an agency's answer over SMEV, a refusal): no rules, no notice.
    False if there is no such document."""
    row = conn.execute(
        "SELECT stage, deadline FROM documents WHERE message_id = ?", (message_id,)
    ).fetchone()
    if row is None:
        return False
    if stage == Stage.EXECUTED:
        on_time = row[1] is None or today.isoformat() <= row[1]
        conn.execute(
            "UPDATE documents SET stage = ?, executed_on = COALESCE(executed_on, ?), "
            "executed_on_time = COALESCE(executed_on_time, ?), updated_at = ? "
            "WHERE message_id = ?",
            (stage.value, today.isoformat(), int(on_time), at, message_id),
        )
    else:
        conn.execute(
            "UPDATE documents SET stage = ?, updated_at = ? WHERE message_id = ? "
            "AND (stage IS NULL OR ? NOT IN ('registered', 'registration_refused'))",
            (stage.value, at, message_id, stage.value),
        )
    record_event(conn, message_id, stage, detail, at)
    return True


def due(conn: sqlite3.Connection, until: dt.date, column: str, limit: int = 1000) -> list[Due]:
    """Documents on control due by ``until`` not yet told of for their current deadline
    (``column``: reminded_for or overdue_for)."""
    assert column in ("reminded_for", "overdue_for")
    rows = conn.execute(
        f"SELECT message_id, sender, recipient, executor, deadline, title FROM documents "
        f"WHERE {_ON_CONTROL} AND deadline <= ? "
        f"AND ({column} IS NULL OR {column} != deadline) ORDER BY deadline LIMIT ?",
        (until.isoformat(), limit),
    ).fetchall()
    return [Due(r[0], r[1], r[2], r[3], dt.date.fromisoformat(r[4]), r[5]) for r in rows]


def mark_told(
    conn: sqlite3.Connection,
    item: Due,
    column: str,
    stage: Stage,
    detail: str,
    at: str,
) -> None:
    assert column in ("reminded_for", "overdue_for")
    conn.execute(
        f"UPDATE documents SET {column} = ? WHERE message_id = ?",
        (item.deadline.isoformat(), item.message_id),
    )
    record_event(conn, item.message_id, stage, detail, at)


def control_counts(
    conn: sqlite3.Connection, today: dt.date, due_soon_days: int
) -> dict[str, ControlCounts]:
    soon = today + dt.timedelta(days=due_soon_days)
    counts: dict[str, ControlCounts] = {}
    for department, on_control, due_soon, overdue in conn.execute(
        f"SELECT recipient, COUNT(*), COUNT(*) FILTER (WHERE deadline >= ? AND deadline <= ?), "
        f"COUNT(*) FILTER (WHERE deadline < ?) "
        f"FROM documents INDEXED BY documents_on_control WHERE {_ON_CONTROL} "
        "GROUP BY recipient",
        (today.isoformat(), soon.isoformat(), today.isoformat()),
    ):
        counts[department] = ControlCounts(on_control, due_soon or 0, overdue or 0)
    return counts


def summary_rows(
    conn: sqlite3.Connection,
    today: dt.date,
    due_soon_days: int,
    department: str | None,
    period_from: dt.date | None,
    period_to: dt.date | None,
) -> list[tuple[str, str | None, int, int, int, int, int]]:
    """Per department and executor: on control, due soon, overdue (now), executed on time and
    late (within the period)."""
    soon = today + dt.timedelta(days=due_soon_days)
    where_department = "AND recipient = ?" if department else ""
    start = period_from.isoformat() if period_from else "0000-01-01"
    end = period_to.isoformat() if period_to else "9999-12-31"
    params: list[object] = [today.isoformat(), soon.isoformat(), today.isoformat()]
    if department:
        params.append(department)
    params += [start, end]
    if department:
        params.append(department)
    rows = conn.execute(
        f"""
        SELECT recipient, executor, SUM(on_control), SUM(due_soon), SUM(overdue),
               SUM(on_time), SUM(late)
        FROM (
            SELECT recipient, executor, 1 AS on_control,
                   CASE WHEN deadline >= ? AND deadline <= ? THEN 1 ELSE 0 END AS due_soon,
                   CASE WHEN deadline < ? THEN 1 ELSE 0 END AS overdue,
                   0 AS on_time, 0 AS late
            FROM documents INDEXED BY documents_on_control
            WHERE {_ON_CONTROL} {where_department}
            UNION ALL
            SELECT recipient, executor, 0, 0, 0, executed_on_time, 1 - executed_on_time
            FROM documents INDEXED BY documents_executed
            WHERE executed_on IS NOT NULL AND executed_on >= ? AND executed_on <= ?
                  {where_department}
        ) AS controlled
        GROUP BY recipient, executor ORDER BY recipient, executor
        """,
        params,
    ).fetchall()
    # (PostgreSQL sums integers as numeric)
    return [(r[0], r[1], int(r[2]), int(r[3]), int(r[4]), int(r[5]), int(r[6])) for r in rows]
