"""The SQLite store's schema, as numbered migrations (applied in order, each once).

A migration is a script of ``;``-separated statements run in the transaction that records its
number in ``schema_version``. Never edit one that has shipped: add the next.
"""

from __future__ import annotations

import re

MIGRATIONS: list[str] = [
    # 1: messages, timelines, deliveries, embedded queues
    """
    CREATE TABLE messages (
        message_id      TEXT PRIMARY KEY,
        digest          TEXT,
        sender          TEXT,
        recipient       TEXT,
        message_type    TEXT,
        kind            TEXT,
        correlation_id  TEXT,
        conversation_id TEXT,
        expires_at      TEXT,
        state           TEXT NOT NULL,
        reason          TEXT,
        rules_version   TEXT,
        received_at     TEXT NOT NULL,
        updated_at      TEXT NOT NULL,
        envelope        BLOB
    );
    CREATE INDEX messages_correlation ON messages(correlation_id);
    CREATE INDEX messages_state ON messages(state, updated_at);
    CREATE TABLE events (
        id          INTEGER PRIMARY KEY,
        message_id  TEXT NOT NULL,
        state       TEXT NOT NULL,
        at          TEXT NOT NULL,
        detail      TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX events_message ON events(message_id, id);
    CREATE TABLE deliveries (
        message_id  TEXT NOT NULL,
        adapter     TEXT NOT NULL,
        address     TEXT NOT NULL,
        state       TEXT NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        last_error  TEXT,
        updated_at  TEXT NOT NULL,
        PRIMARY KEY (message_id, adapter, address)
    );
    CREATE INDEX deliveries_state ON deliveries(state, updated_at);
    CREATE TABLE queue (
        id            INTEGER PRIMARY KEY,
        queue         TEXT NOT NULL,
        body          BLOB NOT NULL,
        headers       TEXT NOT NULL,
        available_at  REAL NOT NULL,
        locked_until  REAL NOT NULL DEFAULT 0,
        deliveries    INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX queue_ready ON queue(queue, available_at, id);
    CREATE TABLE submissions (
        submission_id TEXT PRIMARY KEY,
        message_id    TEXT NOT NULL,
        outcome       TEXT NOT NULL,
        reason        TEXT,
        at            TEXT NOT NULL
    );
    CREATE TABLE inbox_seen (
        participant TEXT NOT NULL,
        message_id  TEXT NOT NULL,
        at          TEXT NOT NULL,
        PRIMARY KEY (participant, message_id)
    );
    """,
    # 2: dead letters and rules versions
    """
    CREATE TABLE dead_letters (
        message_id  TEXT NOT NULL,
        adapter     TEXT NOT NULL,
        address     TEXT NOT NULL,
        error       TEXT NOT NULL,
        at          TEXT NOT NULL,
        body        BLOB NOT NULL,
        headers     TEXT NOT NULL,
        PRIMARY KEY (message_id, adapter, address)
    );
    CREATE TABLE rules_versions (
        version     TEXT PRIMARY KEY,
        applied_at  TEXT NOT NULL,
        summary     TEXT NOT NULL
    );
    """,
    # 3: adapters' references (SMEV MessageIDs, mail Message-IDs, ReplyTo tokens)
    """
    CREATE TABLE adapter_refs (
        adapter     TEXT NOT NULL,
        reference   TEXT NOT NULL,
        message_id  TEXT NOT NULL,
        data        TEXT NOT NULL DEFAULT '',
        at          TEXT NOT NULL,
        PRIMARY KEY (adapter, reference)
    );
    CREATE INDEX adapter_refs_message ON adapter_refs(adapter, message_id);
    """,
    # 4: circuit breakers as the hub last saw them (for `hub status`)
    """
    CREATE TABLE breakers (
        adapter     TEXT NOT NULL,
        address     TEXT NOT NULL,
        state       TEXT NOT NULL,
        failures    INTEGER NOT NULL,
        last_error  TEXT NOT NULL DEFAULT '',
        updated_at  TEXT NOT NULL,
        PRIMARY KEY (adapter, address)
    );
    """,
    # 5: envelopes in a table of their own. A 5 KB blob in the messages row made every state
    # change rewrite a whole page per message (a second commit per batch cost as much as the
    # first); now a message row is small. messages.envelope stays (older rows are moved out
    # of it here) only because DROP COLUMN needs SQLite 3.35.
    """
    CREATE TABLE envelopes (
        message_id  TEXT PRIMARY KEY,
        body        BLOB NOT NULL
    );
    INSERT INTO envelopes (message_id, body)
        SELECT message_id, envelope FROM messages WHERE envelope IS NOT NULL;
    UPDATE messages SET envelope = NULL WHERE envelope IS NOT NULL;
    """,
    # 6: priorities in the embedded queues (a message's `priority` header, 0-9, higher first)
    """
    ALTER TABLE queue ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX queue_by_priority ON queue(queue, priority DESC, id);
    """,
]

MIGRATIONS.append(
    # 7: execution control — documents and their business state, resolutions, deadline changes,
    # registration journals (numbers never skip, never repeat: one counter row per journal and
    # year, moved in the transaction that hands the number out)
    """
    CREATE TABLE documents (
        message_id        TEXT PRIMARY KEY,
        sender            TEXT NOT NULL,
        recipient         TEXT NOT NULL,
        received_at       TEXT NOT NULL,
        card              TEXT,
        title             TEXT,
        urgency           TEXT,
        control_term      TEXT,
        stage             TEXT,
        number            TEXT,
        registered_on     TEXT,
        journal           TEXT,
        refusal           TEXT,
        executor          TEXT,
        deadline          TEXT,
        executed_on       TEXT,
        executed_on_time  INTEGER,
        answer            TEXT,
        report            TEXT,
        closed_on         TEXT,
        reminded_for      TEXT,
        overdue_for       TEXT,
        updated_at        TEXT NOT NULL
    );
    CREATE INDEX documents_recipient ON documents(recipient, received_at);
    CREATE INDEX documents_sender ON documents(sender, received_at);
    CREATE INDEX documents_on_control ON documents(deadline, recipient, executor)
        WHERE deadline IS NOT NULL AND executed_on IS NULL AND closed_on IS NULL;
    CREATE INDEX documents_executed
        ON documents(executed_on, recipient, executor, executed_on_time)
        WHERE executed_on IS NOT NULL;
    CREATE INDEX documents_number ON documents(number) WHERE number IS NOT NULL;
    CREATE TABLE assignments (
        id                 TEXT PRIMARY KEY,
        message_id         TEXT NOT NULL,
        position           INTEGER NOT NULL,
        parent             TEXT,
        executor           TEXT NOT NULL,
        co_executors       TEXT NOT NULL,
        deadline           TEXT NOT NULL,
        set_by_department  TEXT NOT NULL,
        set_by_person      TEXT,
        urgency            TEXT,
        text               TEXT,
        at                 TEXT NOT NULL
    );
    CREATE INDEX assignments_document ON assignments(message_id, position);
    CREATE TABLE deadline_changes (
        id          INTEGER PRIMARY KEY,
        message_id  TEXT NOT NULL,
        assignment  TEXT NOT NULL,
        department  TEXT NOT NULL,
        person      TEXT,
        old         TEXT NOT NULL,
        new         TEXT NOT NULL,
        reason      TEXT NOT NULL,
        at          TEXT NOT NULL
    );
    CREATE INDEX deadline_changes_document ON deadline_changes(message_id, id);
    CREATE TABLE journal_counters (
        department  TEXT NOT NULL,
        journal     TEXT NOT NULL,
        year        INTEGER NOT NULL,
        last        INTEGER NOT NULL,
        PRIMARY KEY (department, journal, year)
    );
    CREATE TABLE registrations (
        department     TEXT NOT NULL,
        journal        TEXT NOT NULL,
        year           INTEGER NOT NULL,
        number         TEXT NOT NULL,
        seq            INTEGER,
        message_id     TEXT NOT NULL,
        state          TEXT NOT NULL,
        registered_on  TEXT NOT NULL,
        at             TEXT NOT NULL,
        PRIMARY KEY (department, journal, year, number)
    );
    CREATE UNIQUE INDEX registrations_seq ON registrations(department, journal, year, seq)
        WHERE seq IS NOT NULL;
    CREATE UNIQUE INDEX registrations_document ON registrations(message_id, department, journal);
    """
)

MIGRATIONS.append(
    # 8: the HTTP API — bearer tokens (only a keyed hash of each is kept), the audit log of
    # administrators' actions, and the indexes that a caller's message search needs
    """
    CREATE TABLE api_tokens (
        id          TEXT PRIMARY KEY,
        participant TEXT NOT NULL,
        role        TEXT NOT NULL,
        department  TEXT,
        hash        TEXT NOT NULL,
        label       TEXT NOT NULL DEFAULT '',
        created_at  TEXT NOT NULL,
        created_by  TEXT NOT NULL,
        revoked_at  TEXT
    );
    CREATE TABLE audit_log (
        id      INTEGER PRIMARY KEY,
        at      TEXT NOT NULL,
        actor   TEXT NOT NULL,
        role    TEXT NOT NULL,
        action  TEXT NOT NULL,
        target  TEXT NOT NULL,
        reason  TEXT NOT NULL,
        detail  TEXT NOT NULL
    );
    CREATE INDEX audit_log_at ON audit_log(at);
    CREATE INDEX messages_sender ON messages(sender, received_at);
    CREATE INDEX messages_recipient ON messages(recipient, received_at);
    CREATE INDEX messages_received ON messages(received_at)
    """
)

MIGRATIONS.append(
    # 9: the managers' page's search — the card's kind, number and date as columns (a clerk
    # types the sender's number), the titles' words (FTS5, its own rows keyed by message id:
    # a table's implicit rowid may change on VACUUM; filled where a document is
    # inserted), the newest-first order for everyone, and each side's documents on control
    # in the order of their deadlines (a department's lists of execution control)
    """
    ALTER TABLE documents ADD COLUMN card_kind TEXT;
    ALTER TABLE documents ADD COLUMN card_number TEXT;
    ALTER TABLE documents ADD COLUMN card_date TEXT;
    UPDATE documents SET card_kind = json_extract(card, '$.kind'),
                         card_number = json_extract(card, '$.number'),
                         card_date = json_extract(card, '$.date')
        WHERE card IS NOT NULL;
    CREATE INDEX documents_card_number ON documents(card_number) WHERE card_number IS NOT NULL;
    CREATE INDEX documents_received ON documents(received_at, message_id);
    CREATE INDEX documents_executor ON documents(executor, received_at) WHERE executor IS NOT NULL;
    CREATE INDEX documents_late ON documents(recipient, executed_on) WHERE executed_on_time = 0;
    CREATE INDEX documents_unregistered ON documents(recipient, received_at) WHERE stage IS NULL;
    CREATE INDEX documents_on_control_recipient ON documents(recipient, deadline)
        WHERE deadline IS NOT NULL AND executed_on IS NULL AND closed_on IS NULL;
    CREATE INDEX documents_on_control_sender ON documents(sender, deadline)
        WHERE deadline IS NOT NULL AND executed_on IS NULL AND closed_on IS NULL;
    CREATE VIRTUAL TABLE document_titles USING fts5(
        title, message_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2'
    );
    INSERT INTO document_titles (title, message_id)
        SELECT title, message_id FROM documents WHERE title IS NOT NULL ORDER BY received_at
    """
)

MIGRATIONS.append(
    # 10: the managers' page — its users (an argon2 hash of each password, the failures that
    # lock a user out) and their sessions (a hash of each cookie, its CSRF token)
    """
    CREATE TABLE users (
        name          TEXT PRIMARY KEY,
        role          TEXT NOT NULL,
        department    TEXT,
        display_name  TEXT NOT NULL DEFAULT '',
        hash          TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        created_by    TEXT NOT NULL,
        disabled_at   TEXT,
        failures      INTEGER NOT NULL DEFAULT 0,
        locked_until  TEXT
    );
    CREATE TABLE ui_sessions (
        id          TEXT PRIMARY KEY,
        username    TEXT NOT NULL,
        csrf        TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        seen_at     TEXT NOT NULL,
        expires_at  TEXT NOT NULL
    );
    CREATE INDEX ui_sessions_user ON ui_sessions(username);
    CREATE INDEX ui_sessions_expiry ON ui_sessions(expires_at)
    """
)

MIGRATIONS.append(
    # 11: several hub nodes on one store — each node's heartbeat (seen_at, by the database's
    # clock in epoch seconds, which every node shares whatever its own says), where its API and
    # metrics listen, the rules it has in force, a rules reload asked of it and its answer; and
    # the leases of the jobs one node does for all (the deadline watch), held until expires_at
    """
    CREATE TABLE nodes (
        node             TEXT PRIMARY KEY,
        instance         TEXT NOT NULL,
        started_at       TEXT NOT NULL,
        seen_at          REAL NOT NULL,
        version          TEXT NOT NULL,
        api              TEXT NOT NULL DEFAULT '',
        metrics          TEXT NOT NULL DEFAULT '',
        rules_version    TEXT NOT NULL DEFAULT '',
        reload_request   TEXT,
        reload_answered  TEXT,
        reload_answer    TEXT
    );
    CREATE INDEX nodes_seen ON nodes(seen_at);
    CREATE TABLE leases (
        name        TEXT PRIMARY KEY,
        holder      TEXT NOT NULL,
        since       REAL NOT NULL,
        expires_at  REAL NOT NULL
    );
    CREATE INDEX leases_holder ON leases(holder)
    """
)

MIGRATIONS.append(
    # 12: the messages in each state, kept as they change (the metrics ask every few seconds;
    # counting 10,000,000 rows took 1.2 s). On SQLite the triggers update ``state_counts``
    # directly (one writer); on PostgreSQL they append to ``state_deltas``, which every node
    # folds into ``state_counts`` (the nodes' writes would otherwise collide on the same rows:
    # docs/decisions/0018-store-at-scale.md). A count is the sum of both. The messages by state
    # and time (a manager's "delivered, not acknowledged after 3 days"; nothing asked by state
    # and last change); by message in the tables retention deletes from. The legal holds:
    # messages retention must keep, whatever their age. SQLite: where each document's title is
    # in the titles' full-text index (its row id there: its message_id column has no index).
    """
    CREATE TABLE state_counts (
        state   TEXT PRIMARY KEY,
        n       INTEGER NOT NULL
    );
    CREATE TABLE state_deltas (
        state   TEXT NOT NULL,
        delta   INTEGER NOT NULL
    );
    INSERT INTO state_counts (state, n) SELECT state, COUNT(*) FROM messages GROUP BY state;
    CREATE TRIGGER messages_counted_in AFTER INSERT ON messages BEGIN
        INSERT INTO state_counts (state, n) VALUES (NEW.state, 1)
            ON CONFLICT (state) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER messages_counted_moved AFTER UPDATE OF state ON messages
        WHEN OLD.state IS NOT NEW.state BEGIN
        INSERT INTO state_counts (state, n) VALUES (NEW.state, 1)
            ON CONFLICT (state) DO UPDATE SET n = n + 1;
        UPDATE state_counts SET n = n - 1 WHERE state = OLD.state;
    END;
    CREATE TRIGGER messages_counted_out AFTER DELETE ON messages BEGIN
        UPDATE state_counts SET n = n - 1 WHERE state = OLD.state;
    END;
    DROP INDEX messages_state;
    CREATE INDEX messages_state_received ON messages(state, received_at);
    CREATE INDEX inbox_seen_message ON inbox_seen(message_id);
    CREATE INDEX submissions_message ON submissions(message_id);
    DROP INDEX adapter_refs_message;
    CREATE INDEX adapter_refs_message ON adapter_refs(message_id, adapter);
    CREATE TABLE legal_holds (
        message_id  TEXT PRIMARY KEY,
        reason      TEXT NOT NULL,
        held_by     TEXT NOT NULL,
        held_at     TEXT NOT NULL
    );
    ALTER TABLE documents ADD COLUMN title_row INTEGER;
    CREATE TABLE title_rows AS SELECT rowid AS title_row, message_id FROM document_titles;
    CREATE INDEX title_rows_message ON title_rows(message_id);
    UPDATE documents SET title_row = (
        SELECT t.title_row FROM title_rows t WHERE t.message_id = documents.message_id
    ) WHERE title IS NOT NULL;
    DROP TABLE title_rows
    """
)

MIGRATIONS.append(
    # 13: archive (issue 19): the tamper-evident log (docs/archive.md) — its size and how far it
    # has taken the timeline and the audit log in (one row, updated by every batch that appends:
    # on PostgreSQL two nodes appending at once conflict on it and one batch runs again, so
    # leaf numbers have no gaps); the leaf hashes with the row each stands for; the subtrees
    # every fourth level up; the signed tree heads; the bodies retention removed, by run. The
    # log starts here: what came before is not in it.
    """
    CREATE TABLE archive_state (
        id           INTEGER PRIMARY KEY,
        size         INTEGER NOT NULL,
        events_seen  INTEGER NOT NULL,
        audit_seen   INTEGER NOT NULL
    );
    INSERT INTO archive_state (id, size, events_seen, audit_seen)
        SELECT 0, 0, COALESCE((SELECT MAX(id) FROM events), 0),
               COALESCE((SELECT MAX(id) FROM audit_log), 0);
    CREATE TABLE archive_leaves (
        idx         INTEGER PRIMARY KEY,
        kind        TEXT NOT NULL,
        ref         TEXT NOT NULL,
        message_id  TEXT,
        at          TEXT NOT NULL,
        hash        BLOB NOT NULL
    );
    CREATE INDEX archive_leaves_message ON archive_leaves(message_id, idx);
    CREATE INDEX archive_leaves_at ON archive_leaves(at, idx);
    CREATE TABLE archive_nodes (
        level  INTEGER NOT NULL,
        idx    INTEGER NOT NULL,
        hash   BLOB NOT NULL,
        PRIMARY KEY (level, idx)
    );
    CREATE TABLE archive_heads (
        size       INTEGER PRIMARY KEY,
        root       BLOB NOT NULL,
        at         TEXT NOT NULL,
        signed     BLOB NOT NULL,
        signature  BLOB NOT NULL
    );
    CREATE TABLE archive_prunes (
        run     INTEGER PRIMARY KEY,
        at      TEXT NOT NULL,
        actor   TEXT NOT NULL,
        reason  TEXT NOT NULL
    );
    CREATE TABLE archive_pruned (
        message_id  TEXT PRIMARY KEY,
        run         INTEGER NOT NULL,
        sha256      TEXT NOT NULL,
        size        INTEGER NOT NULL
    )
    """
)

MIGRATIONS.append(
    # 14: the archive's sequencer (docs/decisions/0024-archive-sequencer.md). A write no longer
    # moves the one `archive_state` row (several nodes' batches conflicted on it): it only
    # inserts its leaves, hashed, into `archive_pending`; the node holding the `archive-heads`
    # lease integrates them into the tree in `seq` order and signs heads. `events_seen` and
    # `audit_seen` now say where the log starts (rows up to them came before it): the last
    # row before the first one logged. The signed receipts and notices the hub sent, by digest
    # (no unique index to probe: on PostgreSQL a probe is a predicate lock two nodes conflict on).
    """
    CREATE TABLE archive_pending (
        seq         INTEGER PRIMARY KEY,
        kind        TEXT NOT NULL,
        ref         TEXT NOT NULL,
        message_id  TEXT,
        at          TEXT NOT NULL,
        hash        BLOB NOT NULL
    );
    CREATE TABLE archive_emitted (
        id          INTEGER PRIMARY KEY,
        kind        TEXT NOT NULL,
        ref         TEXT NOT NULL,
        message_id  TEXT NOT NULL,
        recipient   TEXT NOT NULL,
        state       TEXT NOT NULL,
        at          TEXT NOT NULL,
        sha256      TEXT NOT NULL,
        size        INTEGER NOT NULL
    );
    CREATE INDEX archive_emitted_message ON archive_emitted(message_id);
    UPDATE archive_state SET
        events_seen = COALESCE((SELECT MIN(CAST(ref AS INTEGER)) - 1 FROM archive_leaves
                                WHERE kind = 'event'), events_seen),
        audit_seen = COALESCE((SELECT MIN(CAST(ref AS INTEGER)) - 1 FROM archive_leaves
                               WHERE kind = 'admin'), audit_seen)
    """
)

MIGRATIONS.append(
    # 15: blobs (issue 22, decision 0023) — attachments by reference: each blob the hub keeps
    # (its SHA-256, size, when last uploaded, and the collector's marks: doomed when nothing
    # refers to it past the grace period, deleting while its content is being removed); who
    # uploaded it; which message refers to it and who may therefore read it (the sender and the
    # recipients; retention deletes these rows with their message); uploads under way.
    """
    CREATE TABLE blobs (
        digest      TEXT PRIMARY KEY,
        size        INTEGER NOT NULL,
        created_at  TEXT NOT NULL,
        touched_at  TEXT NOT NULL,
        doomed_at   TEXT,
        deleting    INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX blobs_doomed ON blobs(doomed_at) WHERE doomed_at IS NOT NULL;
    CREATE TABLE blob_owners (
        digest       TEXT NOT NULL,
        participant  TEXT NOT NULL,
        at           TEXT NOT NULL,
        PRIMARY KEY (digest, participant)
    );
    CREATE TABLE blob_refs (
        digest       TEXT NOT NULL,
        participant  TEXT NOT NULL,
        message_id   TEXT NOT NULL,
        PRIMARY KEY (digest, participant, message_id)
    );
    CREATE INDEX blob_refs_message ON blob_refs(message_id);
    CREATE TABLE uploads (
        upload_id   TEXT PRIMARY KEY,
        owner       TEXT NOT NULL,
        sha256      TEXT NOT NULL,
        size        INTEGER NOT NULL,
        created_at  TEXT NOT NULL
    );
    CREATE INDEX uploads_created ON uploads(created_at)
    """
)

# where PostgreSQL needs a script of its own
POSTGRESQL: dict[int, str] = {
    9: """
    ALTER TABLE documents ADD COLUMN card_kind TEXT;
    ALTER TABLE documents ADD COLUMN card_number TEXT;
    ALTER TABLE documents ADD COLUMN card_date TEXT;
    UPDATE documents SET card_kind = card::jsonb ->> 'kind',
                         card_number = card::jsonb ->> 'number',
                         card_date = card::jsonb ->> 'date'
        WHERE card IS NOT NULL;
    CREATE INDEX documents_card_number ON documents(card_number) WHERE card_number IS NOT NULL;
    CREATE INDEX documents_received ON documents(received_at, message_id);
    CREATE INDEX documents_executor ON documents(executor, received_at) WHERE executor IS NOT NULL;
    CREATE INDEX documents_late ON documents(recipient, executed_on) WHERE executed_on_time = 0;
    CREATE INDEX documents_unregistered ON documents(recipient, received_at) WHERE stage IS NULL;
    CREATE INDEX documents_on_control_recipient ON documents(recipient, deadline)
        WHERE deadline IS NOT NULL AND executed_on IS NULL AND closed_on IS NULL;
    CREATE INDEX documents_on_control_sender ON documents(sender, deadline)
        WHERE deadline IS NOT NULL AND executed_on IS NULL AND closed_on IS NULL;
    CREATE TABLE document_titles (
        message_id  TEXT PRIMARY KEY,
        title       TEXT NOT NULL
    );
    CREATE INDEX document_titles_words ON document_titles
        USING GIN (to_tsvector('simple', title));
    INSERT INTO document_titles (title, message_id)
        SELECT title, message_id FROM documents WHERE title IS NOT NULL
    """,
    12: """
    CREATE TABLE state_counts (
        state   TEXT PRIMARY KEY,
        n       BIGINT NOT NULL
    );
    CREATE TABLE state_deltas (
        state   TEXT NOT NULL,
        delta   BIGINT NOT NULL
    );
    INSERT INTO state_counts (state, n) SELECT state, COUNT(*) FROM messages GROUP BY state;
    CREATE FUNCTION messages_counted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO state_deltas (state, delta) VALUES (NEW.state, 1);
        ELSIF TG_OP = 'DELETE' THEN
            INSERT INTO state_deltas (state, delta) VALUES (OLD.state, -1);
        ELSIF OLD.state IS DISTINCT FROM NEW.state THEN
            INSERT INTO state_deltas (state, delta) VALUES (OLD.state, -1), (NEW.state, 1);
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER messages_counted AFTER INSERT OR DELETE OR UPDATE OF state ON messages
        FOR EACH ROW EXECUTE FUNCTION messages_counted();
    DROP INDEX messages_state;
    CREATE INDEX messages_state_received ON messages(state, received_at);
    CREATE INDEX inbox_seen_message ON inbox_seen(message_id);
    CREATE INDEX submissions_message ON submissions(message_id);
    DROP INDEX adapter_refs_message;
    CREATE INDEX adapter_refs_message ON adapter_refs(message_id, adapter);
    CREATE TABLE legal_holds (
        message_id  TEXT PRIMARY KEY,
        reason      TEXT NOT NULL,
        held_by     TEXT NOT NULL,
        held_at     TEXT NOT NULL
    )
    """,
}

_PG_TYPES = [
    (re.compile(r"\bINTEGER PRIMARY KEY\b"), "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
    (re.compile(r"\bBLOB\b"), "BYTEA"),
]


def statements(script: str) -> list[str]:
    """A migration's statements: split at ``;``, but not inside a PostgreSQL function's
    ``$$`` body or a SQLite trigger's ``BEGIN … END``."""
    out: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending = f"{pending};{piece}" if pending else piece
        if pending.count("$$") % 2 or _open_trigger(pending):
            continue
        if pending.strip():
            out.append(pending.strip())
        pending = ""
    if pending.strip():
        out.append(pending.strip())
    return out


def _open_trigger(text: str) -> bool:
    return bool(_TRIGGER.search(text) and _BEGIN.search(text) and not _END.search(text))


_TRIGGER = re.compile(r"\bCREATE\s+TRIGGER\b", re.IGNORECASE)
_BEGIN = re.compile(r"\bBEGIN\b")
_END = re.compile(r"\bEND\s*$")


def migrations_for(dialect: str) -> list[str]:
    """The migrations as ``dialect`` (sqlite or postgresql) runs them."""
    if dialect == "sqlite":
        return list(MIGRATIONS)
    out = []
    for number, script in enumerate(MIGRATIONS, start=1):
        own = POSTGRESQL.get(number)
        if own is None:
            own = script
            for pattern, replacement in _PG_TYPES:
                own = pattern.sub(replacement, own)
        out.append(own)
    return out
