"""The managers' page's reads in SQLite: documents as lists (search, views of execution
control, a page at a time by cursor), the overview's counters, the charts' daily figures.

Every query is one index range or a few (docs/ui.md, "Speed"): bench/ui.py measures them on a
million documents.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3

from hub.records import DayFigures, DocumentCounts, DocumentListRow, DocumentQuery

_ON_CONTROL = "d.deadline IS NOT NULL AND d.executed_on IS NULL AND d.closed_on IS NULL"
_COLUMNS = (
    "d.message_id, d.sender, d.recipient, d.received_at, d.title, d.card_kind, d.card_number, "
    "d.card_date, d.number, d.registered_on, d.stage, d.executor, d.deadline, d.executed_on, "
    "d.executed_on_time, d.urgency"
)
_TOP = "\U0010ffff"  # sorts after every text that starts the same way
_ID_PREFIX = re.compile(r"[0-9a-f-]{8,36}")
_WORD = re.compile(r"\w+")
_FEW = 1000  # a search text's matches that are worth reading one by one
_Way = tuple[str, list[str], list[object]]  # FROM, WHERE, parameters


def _dialect(conn: object) -> str:
    """sqlite or postgresql (postgres_db.PgConnection says so; sqlite3's connection does not)."""
    return str(getattr(conn, "dialect", "sqlite"))


def _marks(values: tuple[str, ...]) -> str:
    return ", ".join("?" * len(values))


def _scope(query: DocumentQuery) -> tuple[list[str], list[object]]:
    """Whose documents, as one condition: the parties as recipients, senders or either."""
    parties = query.parties
    if not parties:
        return [], []
    marks = _marks(parties)
    if query.direction == "incoming":
        return [f"d.recipient IN ({marks})"], [*parties]
    if query.direction == "outgoing":
        return [f"d.sender IN ({marks})"], [*parties]
    return [f"(d.recipient IN ({marks}) OR d.sender IN ({marks}))"], [*parties, *parties]


def _sides(query: DocumentQuery) -> list[tuple[list[str], list[object]]]:
    """Whose documents, as ranges of an index in the page's order (documents_recipient,
    documents_sender, documents_on_control_*, documents_unregistered …): a condition for each
    party on each side it may be on; one without a condition for everyone's. (An OR of the
    sides, or a list of parties, would read every document of theirs, then sort them.)"""
    parties = query.parties
    if not parties:
        return [([], [])]
    sides: list[tuple[list[str], list[object]]] = []
    if query.direction in ("any", "incoming"):
        sides += [(["d.recipient = ?"], [party]) for party in parties]
    if query.direction in ("any", "outgoing"):
        sides += [(["d.sender = ?"], [party]) for party in parties]
    return sides


def _view(query: DocumentQuery) -> tuple[list[str], list[object]]:
    today = query.today.isoformat()
    view = query.view
    if view == "on_control":
        return [_ON_CONTROL], []
    if view == "due_soon":
        until = (query.due_until or query.today).isoformat()
        return [_ON_CONTROL, "d.deadline >= ?", "d.deadline <= ?"], [today, until]
    if view == "overdue":
        return [_ON_CONTROL, "d.deadline < ?"], [today]
    if view == "executed":
        return ["d.executed_on IS NOT NULL"], []
    if view == "executed_late":
        return ["d.executed_on IS NOT NULL", "d.executed_on_time = 0"], []
    if view == "not_registered":
        return ["d.stage IS NULL"], []
    return [], []


def fts_expression(text: str) -> str | None:
    """The words of ``text`` as an FTS5 query: every word, each as a prefix («приказ» finds
    «приказа»), quoted so that nothing the user types is FTS syntax."""
    words = _WORD.findall(text)
    if not words:
        return None
    return " ".join('"' + w.replace('"', '""') + '"*' for w in words[:8])


def tsquery_expression(text: str) -> str:
    """The same words as a PostgreSQL tsquery: each a prefix, all of them («'кровл':* &
    'октябр':*»); the words are letters and digits only, so nothing is tsquery syntax."""
    return " & ".join(f"'{w.lower()}':*" for w in _WORD.findall(text)[:8])


def _matches(text: str, dialect: str) -> tuple[list[str], list[object]]:
    """The documents a search text finds, as queries of their ids (to be united): the start
    of a registration number (either side's), of a message id, the words of a title — each
    through its own index."""
    parts: list[str] = []
    params: list[object] = []
    for column in ("number", "card_number"):
        parts.append(f"SELECT message_id FROM documents WHERE {column} BETWEEN ? AND ?")
        params += [text, text + _TOP]
    lowered = text.lower()
    if _ID_PREFIX.fullmatch(lowered):
        parts.append("SELECT message_id FROM documents WHERE message_id BETWEEN ? AND ?")
        params += [lowered, lowered + _TOP]
    words = fts_expression(text)
    if words:
        if dialect == "postgresql":  # a GIN index of the titles' words (migration 9)
            parts.append(
                "SELECT message_id FROM document_titles "
                "WHERE to_tsvector('simple', title) @@ to_tsquery('simple', ?)"
            )
            params.append(tsquery_expression(text))
        else:
            parts.append("SELECT message_id FROM document_titles WHERE document_titles MATCH ?")
            params.append(words)
    return parts, params


def _counterparts(query: DocumentQuery) -> list[tuple[list[str], list[object]]]:
    """The counterparts a search text names, a condition for each side they may be on — for
    everyone's documents, for each counterpart on each side (nothing else is read in order:
    each is a range of documents_sender or documents_recipient)."""
    counterparts = query.counterparts
    sides = ("sender", "recipient")
    if not query.parties:
        return [([f"d.{side} = ?"], [name]) for name in counterparts for side in sides]
    marks = _marks(counterparts)
    return [([f"d.{side} IN ({marks})"], [*counterparts]) for side in sides]


def _order(query: DocumentQuery, table: str = "d.") -> str:
    direction = "DESC" if query.descending() else "ASC"
    return ", ".join(f"{table}{name} {direction}" for name in query.sort_key_names())


def _after(query: DocumentQuery) -> tuple[list[str], list[object]]:
    """The cursor: the rows after the last of the previous page, in the page's order."""
    if query.after is None:
        return [], []
    columns = ", ".join(f"d.{name}" for name in query.sort_key_names())
    compare = "<" if query.descending() else ">"
    return [f"({columns}) {compare} ({_marks(query.after)})"], [*query.after]


def _few(conn: sqlite3.Connection, parts: list[str], params: list[object]) -> bool:
    """Whether a text's matches are few enough to read one by one (counted up to the limit,
    a few milliseconds at most)."""
    every = " UNION ALL ".join(parts)
    (count,) = conn.execute(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM ({every}) AS m LIMIT {_FEW + 1}) AS f", params
    ).fetchone()
    return bool(count <= _FEW)


def _text_ways(
    conn: sqlite3.Connection, query: DocumentQuery, text: str, dialect: str
) -> tuple[str, list[object], list[_Way]]:
    """The ways to the documents a text finds, and a WITH clause they share ("" if none).

    Few matches, or everyone's documents: each match read by its id (the CROSS JOIN keeps
    that order): they cost what they number. Many matches of a party's: the party's
    documents read in the page's order (``_sides``), each tested against the matches
    (gathered once, by the WITH clause), until a page is full: they cost at most what the
    party has. An executor's documents (fewer still) are tested the same way."""
    parts, params = _matches(text, dialect)
    scope, scope_params = _scope(query)
    if query.executor:
        test = f"d.message_id IN ({' UNION ALL '.join(parts)})"
        return "", [], [("documents d", [test, *scope], [*params, *scope_params])]
    if query.parties and not _few(conn, parts, params):
        shared = f"WITH matches AS MATERIALIZED ({' UNION ALL '.join(parts)}) "
        test = "d.message_id IN (SELECT message_id FROM matches)"
        return shared, params, [("documents d", [*side, test], p) for side, p in _sides(query)]
    source = f"({' UNION '.join(parts)}) AS m CROSS JOIN documents d"
    return "", [], [(source, ["d.message_id = m.message_id", *scope], [*params, *scope_params])]


def _ways(
    conn: sqlite3.Connection, query: DocumentQuery, dialect: str
) -> tuple[str, list[object], list[_Way]]:
    """The ways to the documents a query asks for, each (FROM, WHERE, parameters) and each
    an index's range read in the page's order until a page is full: each party on each side
    it may be on (``_sides``), with counterparts each of these on each side, and the ways to
    a text's matches (``_text_ways``, with the WITH clause they share)."""
    shared: str = ""
    shared_params: list[object] = []
    ways: list[_Way] = []
    text = (query.text or "").strip()
    if text:
        shared, shared_params, ways = _text_ways(conn, query, text, dialect)
    if query.counterparts or not text:
        names = _counterparts(query) if query.counterparts else [([], [])]
        for side, side_params in _sides(query):
            for name, name_params in names:
                ways.append(("documents d", side + name, [*side_params, *name_params]))
    return shared, shared_params, ways


def search(conn: sqlite3.Connection, query: DocumentQuery) -> list[DocumentListRow]:
    """A page of documents: a page from each way to them (``_ways``), then a page of their
    union (a document found more than one way is one row of it)."""
    common: list[str] = []
    common_params: list[object] = []
    for where, params in (_view(query), _after(query)):
        common += where
        common_params += params
    if query.executor:
        common.append("d.executor = ?")
        common_params.append(query.executor)
    order = _order(query)
    shared, values, ways = _ways(conn, query, _dialect(conn))
    selects: list[str] = []
    for source, where, params in ways:
        conditions = where + common
        selects.append(
            f"SELECT {_COLUMNS} FROM {source}"
            + (f" WHERE {' AND '.join(conditions)}" if conditions else "")
            + f" ORDER BY {order} LIMIT ?"
        )
        values += [*params, *common_params, query.limit]
    if len(selects) == 1:
        sql = selects[0]
    else:
        united = " UNION ".join(
            f"SELECT * FROM ({select}) AS way{n}" for n, select in enumerate(selects)
        )
        sql = f"{united} ORDER BY {_order(query, table='')} LIMIT ?"
        values.append(query.limit)
    sql = shared + sql
    today = query.today
    rows = []
    for r in conn.execute(sql, values):
        overdue = 0
        deadline, executed_on = r[12], r[13]
        if deadline and executed_on is None and r[10] != "control_closed":
            overdue = max(0, (today - dt.date.fromisoformat(deadline)).days)
        rows.append(
            DocumentListRow(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                r[7],
                r[8],
                r[9],
                r[10],
                r[11],
                r[12],
                r[13],
                None if r[14] is None else bool(r[14]),  # executed on time
                r[15],  # urgency
                overdue,
            )
        )
    return rows


def counts(
    conn: sqlite3.Connection, parties: tuple[str, ...], today: dt.date, due_until: dt.date
) -> DocumentCounts:
    """The overview's counters: the parties' incoming documents (everyone's if none)."""
    scope, params = ("", []) if not parties else (f"AND recipient IN ({_marks(parties)})", parties)
    on_control, due_soon, overdue = conn.execute(
        f"SELECT COUNT(*), COUNT(*) FILTER (WHERE deadline >= ? AND deadline <= ?), "
        f"COUNT(*) FILTER (WHERE deadline < ?) "
        f"FROM documents INDEXED BY documents_on_control "
        f"WHERE deadline IS NOT NULL AND executed_on IS NULL AND closed_on IS NULL {scope}",
        [today.isoformat(), due_until.isoformat(), today.isoformat(), *params],
    ).fetchone()
    (late,) = conn.execute(
        f"SELECT COUNT(*) FROM documents INDEXED BY documents_late "
        f"WHERE executed_on_time = 0 {scope}",
        params,
    ).fetchone()
    (unregistered,) = conn.execute(
        f"SELECT COUNT(*) FROM documents INDEXED BY documents_unregistered "
        f"WHERE stage IS NULL {scope}",
        params,
    ).fetchone()
    return DocumentCounts(on_control, due_soon or 0, overdue or 0, late, unregistered)


def _utc(day: dt.date, zone: dt.tzinfo) -> str:
    """The start of ``day`` in ``zone`` as the store's UTC time stamps are written."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)
    return start.isoformat(timespec="microseconds")


def daily(
    conn: sqlite3.Connection,
    parties: tuple[str, ...],
    first: dt.date,
    last: dt.date,
    zone: dt.tzinfo,
) -> list[DayFigures]:
    """Per day from ``first`` to ``last`` (days in ``zone``): the documents the parties sent
    or received (everyone's if none), and those overdue at the day's end. A document whose
    control was closed without an execution is not counted (such closures are rare)."""
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    received: list[int] = []
    for day in days:
        bounds = [_utc(day, zone), _utc(day + dt.timedelta(days=1), zone)]
        if not parties:
            sides = ["SELECT COUNT(*) FROM documents WHERE received_at >= ? AND received_at < ?"]
            side_params: list[list[object]] = [[*bounds]]
        else:
            marks = _marks(parties)
            sides = [
                f"SELECT COUNT(*) FROM documents WHERE {side} IN ({marks}) "
                "AND received_at >= ? AND received_at < ?"
                for side in ("recipient", "sender")
            ]
            side_params = [[*parties, *bounds], [*parties, *bounds]]
        received.append(
            sum(conn.execute(s, p).fetchone()[0] for s, p in zip(sides, side_params, strict=True))
        )
    # the documents that could be overdue on one of the days: on control now, or executed
    # late since the first day (one executed on time never was: executed_on_time is
    # executed_on <= deadline) — each from its own index, counted by deadline (and day of
    # execution): tens of thousands of documents are a few hundred such groups
    scope, params = ("", []) if not parties else (f"AND recipient IN ({_marks(parties)})", parties)
    end = last.isoformat()
    groups = conn.execute(
        f"SELECT deadline, NULL, COUNT(*) FROM documents INDEXED BY documents_on_control "
        f"WHERE deadline IS NOT NULL AND executed_on IS NULL AND closed_on IS NULL "
        f"AND deadline < ? {scope} GROUP BY deadline "
        f"UNION ALL SELECT deadline, executed_on, COUNT(*) "
        f"FROM documents INDEXED BY documents_executed "
        f"WHERE executed_on IS NOT NULL AND executed_on >= ? AND executed_on_time = 0 "
        f"AND deadline < ? {scope} GROUP BY deadline, executed_on",
        [end, *params, first.isoformat(), end, *params],
    ).fetchall()
    # a document is overdue at the end of each day after its deadline until (not including)
    # the day it was executed: +1 where that starts, -1 where it stops, then a running sum
    change = [0] * (len(days) + 1)
    for deadline, executed_on, count in groups:
        start = dt.date.fromisoformat(deadline) + dt.timedelta(days=1)
        stop = dt.date.fromisoformat(executed_on) if executed_on else last + dt.timedelta(1)
        begin = max(0, (start - first).days)
        finish = min(len(days), (stop - first).days)
        if begin < finish:
            change[begin] += count
            change[finish] -= count
    overdue, running = [], 0
    for step in change[:-1]:
        running += step
        overdue.append(running)
    return [DayFigures(d, r, o) for d, r, o in zip(days, received, overdue, strict=True)]
