"""Several hub nodes on one store: their heartbeats, the leases of the jobs one node does for
all, and rules reloads asked of every node (a mixin of ``SqlStore``).

Times here are the database's clock (epoch seconds), not the nodes': every node reads the same
clock, so a node whose own clock is off neither takes a lease early nor looks dead. Each
statement reads that clock once (SQLite's ``'now'`` is fixed within a statement, PostgreSQL's
``statement_timestamp()`` too). A lease is taken, kept or refused in one upsert: under SQLite's
single writer that is atomic; under PostgreSQL's SERIALIZABLE batches two nodes that race for
it collide, one batch runs again (postgres_db.py) and then sees the other's lease.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import TYPE_CHECKING, Any

from hub.records import LeaseRow, NodeBeat, NodeRow

if TYPE_CHECKING:
    from hub.store.sql_database import Database

# the database's clock in epoch seconds, in each engine's words
CLOCKS = {
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
    "postgresql": "CAST(EXTRACT(EPOCH FROM statement_timestamp()) AS DOUBLE PRECISION)",
}

_NODE_COLUMNS = (
    "node, instance, started_at, seen_at, version, api, metrics, rules_version, "
    "reload_request, reload_answered, reload_answer"
)


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(float(epoch), dt.UTC).isoformat(timespec="milliseconds")


def _node(row: Any) -> NodeRow:
    """A row of ``_NODE_COLUMNS`` followed by its age."""
    return NodeRow(
        node=row[0], instance=row[1], started_at=row[2], seen_at=_iso(row[3]),
        seen_ago=round(max(0.0, float(row[11])), 3), version=row[4], api=row[5],
        metrics=row[6], rules_version=row[7], reload_request=row[8], reload_answered=row[9],
        reload_answer=row[10],
    )  # fmt: skip


class NodeTables:
    """Nodes, leases, rules reload requests."""

    database: Database
    dialect: str

    @property
    def _now(self) -> str:
        return CLOCKS[self.dialect]

    # ------------------------------------------------------------------ heartbeats
    async def node_seen(self, beat: NodeBeat) -> NodeRow | None:
        now = self._now

        def run(conn: sqlite3.Connection) -> NodeRow | None:
            before = conn.execute(
                f"SELECT {_NODE_COLUMNS}, {now} - seen_at FROM nodes WHERE node = ?",
                (beat.node,),
            ).fetchone()
            conn.execute(
                "INSERT INTO nodes (node, instance, started_at, seen_at, version, api, metrics, "
                f"rules_version) VALUES (?, ?, ?, {now}, ?, ?, ?, ?) ON CONFLICT (node) DO UPDATE "
                "SET instance = excluded.instance, started_at = excluded.started_at, "
                "seen_at = excluded.seen_at, version = excluded.version, api = excluded.api, "
                "metrics = excluded.metrics, rules_version = excluded.rules_version",
                (
                    beat.node, beat.instance, beat.started_at, beat.version, beat.api,
                    beat.metrics, beat.rules_version,
                ),
            )  # fmt: skip
            return _node(before) if before else None

        return await self.database.write(run)

    async def nodes(self, alive_within: float) -> list[NodeRow]:
        now = self._now
        rows = await self.database.fetchall(
            f"SELECT {_NODE_COLUMNS}, {now} - seen_at FROM nodes "
            f"WHERE seen_at >= {now} - ? ORDER BY node",
            (alive_within,),
        )
        return [_node(r) for r in rows]

    async def node_stopped(self, node: str, instance: str) -> None:
        def run(conn: sqlite3.Connection) -> None:
            mine = conn.execute(
                "SELECT 1 FROM nodes WHERE node = ? AND instance = ?", (node, instance)
            ).fetchone()
            if mine is None:  # another process writes as this node now: its leases stay
                return
            conn.execute("DELETE FROM leases WHERE holder = ?", (node,))
            conn.execute("DELETE FROM nodes WHERE node = ?", (node,))

        await self.database.write(run)

    # ------------------------------------------------------------------ leases
    async def hold_lease(self, name: str, holder: str, seconds: float) -> bool:
        now = self._now

        def run(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "INSERT INTO leases (name, holder, since, expires_at) "
                f"VALUES (?, ?, {now}, {now} + ?) ON CONFLICT (name) DO UPDATE SET "
                "holder = excluded.holder, expires_at = excluded.expires_at, "
                "since = CASE WHEN leases.holder = excluded.holder "
                "THEN leases.since ELSE excluded.since END "
                f"WHERE leases.holder = excluded.holder OR leases.expires_at <= {now} "
                "RETURNING holder",
                (name, holder, seconds),
            ).fetchone()
            return row is not None

        return await self.database.write(run)

    async def leases(self) -> list[LeaseRow]:
        rows = await self.database.fetchall(
            f"SELECT name, holder, since, expires_at, expires_at - {self._now} FROM leases "
            "ORDER BY name"
        )
        return [LeaseRow(r[0], r[1], _iso(r[2]), _iso(r[3]), round(float(r[4]), 3)) for r in rows]

    # ------------------------------------------------------------------ rules reloads
    async def request_reload(self, request_id: str, alive_within: float) -> list[str]:
        now = self._now

        def run(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                f"UPDATE nodes SET reload_request = ? WHERE seen_at >= {now} - ? RETURNING node",
                (request_id, alive_within),
            ).fetchall()
            return sorted(r[0] for r in rows)

        return await self.database.write(run)

    async def pending_reload(self, node: str) -> str | None:
        rows = await self.database.fetchall(
            "SELECT reload_request FROM nodes WHERE node = ? AND reload_request IS NOT NULL "
            "AND (reload_answered IS NULL OR reload_answered <> reload_request)",
            (node,),
        )
        return str(rows[0][0]) if rows else None

    async def answer_reload(self, node: str, request_id: str, answer: str) -> None:
        await self.database.write(
            lambda c: c.execute(
                "UPDATE nodes SET reload_answered = ?, reload_answer = ? WHERE node = ?",
                (request_id, answer, node),
            )
        )
