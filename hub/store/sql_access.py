"""Who may come in, and what they did: API tokens, the audit log, the managers' page's users
and their sessions — the SQLite side (a mixin of ``SqliteStore``)."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from hub.records import ApiToken, AuditEntry, UiSession, UserRecord, now_iso
from hub.store.sql_archive import insert_audit

if TYPE_CHECKING:
    from hub.store.sql_database import Database

_TOKEN_COLUMNS = (
    "id, participant, role, department, hash, label, created_at, created_by, revoked_at"
)
_USER_COLUMNS = (
    "name, role, department, display_name, hash, created_at, created_by, disabled_at, "
    "failures, locked_until"
)


class AccessTables:
    """Tokens, audit log, users, sessions."""

    database: Database

    # ------------------------------------------------------------------ API tokens
    async def add_token(self, token: ApiToken) -> None:
        await self.database.write(
            lambda c: c.execute(
                "INSERT INTO api_tokens (id, participant, role, department, hash, label, "
                "created_at, created_by, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    token.id, token.participant, token.role, token.department, token.hash,
                    token.label, token.created_at, token.created_by, token.revoked_at,
                ),
            )
        )  # fmt: skip

    async def token(self, token_id: str) -> ApiToken | None:
        rows = await self.database.fetchall(
            f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE id = ?", (token_id,)
        )
        return ApiToken(*rows[0]) if rows else None

    async def tokens(self) -> list[ApiToken]:
        rows = await self.database.fetchall(
            f"SELECT {_TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at"
        )
        return [ApiToken(*r) for r in rows]

    async def revoke_token(self, token_id: str) -> bool:
        at = now_iso()

        def run(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (at, token_id),
            )
            return cursor.rowcount == 1

        return await self.database.write(run)

    # ------------------------------------------------------------------ the audit log
    async def audit(
        self, actor: str, role: str, action: str, target: str, reason: str, detail: str
    ) -> None:
        at = now_iso()
        row = (at, actor, role, action, target, reason, detail)
        await self.database.write(lambda c: insert_audit(c, row))

    async def audit_log(self, since: str | None = None, limit: int = 200) -> list[AuditEntry]:
        rows = await self.database.fetchall(
            "SELECT id, at, actor, role, action, target, reason, detail FROM audit_log "
            "WHERE at > ? ORDER BY id DESC LIMIT ?",
            (since or "", limit),
        )
        return [AuditEntry(*r) for r in rows]

    # ------------------------------------------------------------------ users
    async def add_user(self, user: UserRecord) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                f"INSERT INTO users ({_USER_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    user.name, user.role, user.department, user.display_name, user.hash,
                    user.created_at, user.created_by, user.disabled_at, user.failures,
                    user.locked_until,
                ),
            )  # fmt: skip
            return cursor.rowcount == 1

        return await self.database.write(run)

    async def user(self, name: str) -> UserRecord | None:
        rows = await self.database.fetchall(
            f"SELECT {_USER_COLUMNS} FROM users WHERE name = ?", (name,)
        )
        return UserRecord(*rows[0]) if rows else None

    async def users(self) -> list[UserRecord]:
        rows = await self.database.fetchall(f"SELECT {_USER_COLUMNS} FROM users ORDER BY name")
        return [UserRecord(*r) for r in rows]

    async def set_password(self, name: str, hash_: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE users SET hash = ?, failures = 0, locked_until = NULL WHERE name = ?",
                (hash_, name),
            )
            conn.execute("DELETE FROM ui_sessions WHERE username = ?", (name,))
            return cursor.rowcount == 1

        return await self.database.write(run)

    async def disable_user(self, name: str) -> bool:
        at = now_iso()

        def run(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE users SET disabled_at = ? WHERE name = ? AND disabled_at IS NULL",
                (at, name),
            )
            conn.execute("DELETE FROM ui_sessions WHERE username = ?", (name,))
            return cursor.rowcount == 1

        return await self.database.write(run)

    async def login_failed(self, name: str, limit: int, locked_until: str) -> int:
        def run(conn: sqlite3.Connection) -> int:
            conn.execute("UPDATE users SET failures = failures + 1 WHERE name = ?", (name,))
            conn.execute(
                "UPDATE users SET locked_until = ?, failures = 0 WHERE name = ? AND failures >= ?",
                (locked_until, name, limit),
            )
            row = conn.execute("SELECT failures FROM users WHERE name = ?", (name,)).fetchone()
            return int(row[0]) if row else 0

        return await self.database.write(run)

    async def login_succeeded(self, name: str) -> None:
        await self.database.write(
            lambda c: c.execute(
                "UPDATE users SET failures = 0, locked_until = NULL WHERE name = ?", (name,)
            )
        )

    # ------------------------------------------------------------------ sessions
    async def open_session(self, session_id: str, user: str, csrf: str, expires_at: str) -> None:
        at = now_iso()

        def run(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM ui_sessions WHERE expires_at < ?", (at,))
            conn.execute(
                "INSERT INTO ui_sessions (id, username, csrf, created_at, seen_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (session_id, user, csrf, at, at, expires_at),
            )

        await self.database.write(run)

    async def session(self, session_id: str) -> UiSession | None:
        rows = await self.database.fetchall(
            "SELECT s.id, s.csrf, s.created_at, s.seen_at, s.expires_at, "
            + ", ".join(f"u.{c.strip()}" for c in _USER_COLUMNS.split(","))
            + " FROM ui_sessions s JOIN users u ON u.name = s.username "
            "WHERE s.id = ? AND u.disabled_at IS NULL",
            (session_id,),
        )
        if not rows:
            return None
        r = rows[0]
        return UiSession(r[0], UserRecord(*r[5:]), r[1], r[2], r[3], r[4])

    async def touch_session(self, session_id: str, seen_at: str) -> None:
        await self.database.write(
            lambda c: c.execute(
                "UPDATE ui_sessions SET seen_at = ? WHERE id = ?", (seen_at, session_id)
            )
        )

    async def end_session(self, session_id: str) -> None:
        await self.database.write(
            lambda c: c.execute("DELETE FROM ui_sessions WHERE id = ?", (session_id,))
        )
