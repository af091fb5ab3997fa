"""Blobs in the store (attachments by reference, decision 0023): what the hub keeps, who
uploaded it, which messages refer to it and so who may read it, uploads under way, and the
collector's two marks.

The rule that keeps a referenced blob: a message refers to a blob only through ``blob_refs``,
written in its ingest transaction, and only to a blob whose row exists and is not being
deleted (that write touches the row, so on PostgreSQL it conflicts with the collector's); the
collector marks a row ``deleting`` only where no ``blob_refs`` row exists, removes the content
after that commit, and the row after that. A crash between any two steps leaves a mark the
next run finishes; a blob referenced in between is refused as missing, never lost.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from envelopes.ids import is_participant
from hub.abc import State
from hub.records import BlobRow, Processed, UploadRow, now_iso

if TYPE_CHECKING:
    from hub.store.sql_database import Database

_BLOB_COLUMNS = "digest, size, created_at, touched_at, doomed_at, deleting"
_UNREFERENCED = "NOT EXISTS (SELECT 1 FROM blob_refs r WHERE r.digest = blobs.digest)"


def _where(attachment_id: str) -> str:
    return f"Envelope/AttachmentData/Reference[@Ref='{attachment_id}']"


def check_blobs(conn: sqlite3.Connection, p: Processed) -> tuple[str, str] | None:
    """Why an accepted envelope's references cannot stand (code, reason), or None: every
    blob must be stored (not being removed), of the signed size, and the sender's — uploaded
    by it, or one it may read (it sent or received a message referring to it)."""
    sender = p.sender or ""
    for attachment_id, digest, size in p.blobs:
        row = conn.execute(
            "SELECT size, deleting FROM blobs WHERE digest = ?", (digest,)
        ).fetchone()
        if row is None or row[1]:
            return "attachment_missing", (
                f"{_where(attachment_id)}: no blob sha256:{digest} in the hub's blob store "
                "(upload it first: POST /v1/blobs/uploads, or hub send)"
            )
        if int(row[0]) != size:
            return "attachment_digest_mismatch", (
                f"{_where(attachment_id)}: the blob sha256:{digest} is {row[0]} bytes, the "
                f"signed manifest says {size}"
            )
        if not _may_use(conn, digest, (sender,)):
            return "attachment_forbidden", (
                f"{_where(attachment_id)}: the blob sha256:{digest} is not {sender}'s: "
                "neither uploaded by it nor sent to it"
            )
    return None


def _may_use(conn: Any, digest: str, parties: Sequence[str]) -> bool:
    marks = ",".join("?" * len(parties))
    return bool(
        conn.execute(
            f"SELECT 1 FROM blob_owners WHERE digest = ? AND participant IN ({marks}) "
            f"UNION ALL SELECT 1 FROM blob_refs WHERE digest = ? AND participant IN ({marks}) "
            "LIMIT 1",
            (digest, *parties, digest, *parties),
        ).fetchone()
    )


def record_refs(conn: sqlite3.Connection, p: Processed) -> None:
    """An accepted message refers to its blobs: its sender and recipients may read them."""
    parties = {p.sender, p.recipient}
    for o in p.outgoing:
        parties.update((o.recipient, o.address))
    readers = sorted(x for x in parties if x and is_participant(x))
    for _, digest, _ in p.blobs:
        conn.execute(  # touches the row: the collector cannot have it at the same time
            "UPDATE blobs SET doomed_at = NULL WHERE digest = ?", (digest,)
        )
        conn.executemany(
            "INSERT INTO blob_refs (digest, participant, message_id) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            [(digest, reader, p.message_id) for reader in readers],
        )


def ingest_blobs(conn: sqlite3.Connection, p: Processed) -> tuple[str, str] | None:
    """Check an accepted envelope's references (``check_blobs``) and, when one cannot stand,
    turn the decision into a rejection in place (as a refused notice is)."""
    if p.state != State.ACCEPTED or not p.blobs:
        return None
    refused = check_blobs(conn, p)
    if refused is not None:
        p.state, p.code, p.reasons = State.REJECTED, refused[0], [refused[1]]
        p.outgoing, p.receipt, p.receipt_state = [], None, None
    return refused


class BlobTables:
    """The store's blob records (SqlStore's)."""

    database: Database

    # ------------------------------------------------------------------ uploads
    async def add_upload(self, upload: UploadRow) -> None:
        await self.database.write(
            lambda c: c.execute(
                "INSERT INTO uploads (upload_id, owner, sha256, size, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (upload.upload_id, upload.owner, upload.sha256, upload.size, upload.created_at),
            )
        )

    async def upload(self, upload_id: str) -> UploadRow | None:
        rows = await self.database.fetchall(
            "SELECT upload_id, owner, sha256, size, created_at FROM uploads WHERE upload_id = ?",
            (upload_id,),
        )
        return UploadRow(*rows[0]) if rows else None

    async def end_upload(self, upload_id: str) -> None:
        await self.database.write(
            lambda c: c.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))
        )

    async def stale_uploads(self, before: str, limit: int = 500) -> list[str]:
        rows = await self.database.fetchall(
            "SELECT upload_id FROM uploads WHERE created_at < ? ORDER BY created_at LIMIT ?",
            (before, limit),
        )
        return [str(r[0]) for r in rows]

    # ------------------------------------------------------------------ blobs
    async def claim_blob(self, digest: str, size: int, owner: str) -> bool:
        """Before its content is put in place: the blob is (again) ``owner``'s, uploaded now
        (the grace period starts anew). False while the collector is removing it (try again
        once it is done)."""
        at = now_iso()

        def run(conn: Any) -> bool:
            row = conn.execute("SELECT deleting FROM blobs WHERE digest = ?", (digest,)).fetchone()
            if row is not None and row[0]:
                return False
            conn.execute(
                "INSERT INTO blobs (digest, size, created_at, touched_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (digest) DO UPDATE SET touched_at = excluded.touched_at, "
                "doomed_at = NULL",
                (digest, size, at, at),
            )
            conn.execute(
                "INSERT INTO blob_owners (digest, participant, at) VALUES (?, ?, ?) "
                "ON CONFLICT (digest, participant) DO UPDATE SET at = excluded.at",
                (digest, owner, at),
            )
            return True

        return bool(await self.database.write(run))

    async def has_blobs(self) -> bool:
        rows = await self.database.fetchall(
            "SELECT 1 FROM blobs UNION ALL SELECT 1 FROM uploads LIMIT 1"
        )
        return bool(rows)

    async def blob(self, digest: str) -> BlobRow | None:
        rows = await self.database.fetchall(
            f"SELECT {_BLOB_COLUMNS} FROM blobs WHERE digest = ?", (digest,)
        )
        return _blob_row(rows[0]) if rows else None

    async def may_read_blob(self, digest: str, parties: Sequence[str]) -> bool:
        """Whether one of ``parties`` uploaded the blob or sent or received a message that
        refers to it (no parties: anyone, if it is stored)."""

        def run(conn: Any) -> bool:
            row = conn.execute("SELECT deleting FROM blobs WHERE digest = ?", (digest,)).fetchone()
            if row is None or row[0]:
                return False
            return not parties or _may_use(conn, digest, parties)

        return bool(await self.database.read(run))

    async def blob_refs(self, message_id: str) -> list[str]:
        rows = await self.database.fetchall(
            "SELECT DISTINCT digest FROM blob_refs WHERE message_id = ? ORDER BY digest",
            (message_id,),
        )
        return [str(r[0]) for r in rows]

    # ------------------------------------------------------------------ the collector
    async def doom_blobs(self, before: str, limit: int = 500) -> list[str]:
        """Mark the blobs nothing refers to, last uploaded before ``before``, as to be removed
        (``deleting``); the ones so marked, with those a run that died left marked."""

        def run(conn: Any) -> list[str]:
            at = now_iso()
            conn.execute(
                f"UPDATE blobs SET doomed_at = ?, deleting = 1 WHERE deleting = 0 "
                f"AND touched_at < ? AND {_UNREFERENCED}",
                (at, before),
            )
            rows = conn.execute(
                "SELECT digest FROM blobs WHERE deleting = 1 ORDER BY doomed_at LIMIT ?",
                (limit,),
            ).fetchall()
            return [str(r[0]) for r in rows]

        return await self.database.write(run)

    async def forget_blobs(self, digests: Iterable[str]) -> None:
        """The content of these doomed blobs is gone: their rows go too."""
        chosen = list(digests)
        if not chosen:
            return
        marks = ",".join("?" * len(chosen))

        def run(conn: Any) -> None:
            conn.execute(
                f"DELETE FROM blob_owners WHERE digest IN ({marks}) AND digest IN "
                "(SELECT digest FROM blobs WHERE deleting = 1)",
                chosen,
            )
            conn.execute(f"DELETE FROM blobs WHERE digest IN ({marks}) AND deleting = 1", chosen)

        await self.database.write(run)

    async def known_blobs(self, digests: Sequence[str]) -> set[str]:
        """Which of these blobs the store has a row for (the others are leftovers)."""
        if not digests:
            return set()
        marks = ",".join("?" * len(digests))
        rows = await self.database.fetchall(
            f"SELECT digest FROM blobs WHERE digest IN ({marks})", list(digests)
        )
        return {str(r[0]) for r in rows}


def _blob_row(row: Sequence[Any]) -> BlobRow:
    return BlobRow(str(row[0]), int(row[1]), str(row[2]), str(row[3]), row[4], bool(row[5]))
