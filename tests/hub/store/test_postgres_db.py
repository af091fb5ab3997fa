"""The PostgreSQL database under the store when its server goes away: a pool full of
connections whose sessions were ended (as a restart ends them) costs the next write no wait.

The sessions are ended with pg_terminate_backend, which is what a fast shutdown does to each;
the whole server is restarted in tests/hub/scale/test_chaos.py."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from hub.store.postgres_db import PgDatabase
from tests.support.postgres import _admin, postgres_store_url, run_database

pytestmark = pytest.mark.postgresql


def backend_pid(conn: Any) -> int:
    conn.execute("SELECT pg_sleep(0.1)").fetchall()  # held a while: the pool grows to several
    return int(conn.raw.info.backend_pid)


async def test_a_pool_of_ended_sessions_costs_the_next_write_and_read_no_wait() -> None:
    with postgres_store_url() as url:
        database = await PgDatabase.open(url)
        try:
            pids = set(await asyncio.gather(*(database.read(backend_pid) for _ in range(6))))
            assert len(pids) >= 3
            ended = ", ".join(str(p) for p in pids)
            _admin(f"SELECT pg_terminate_backend(pid) FROM unnest(ARRAY[{ended}]) AS pid",
                   run_database())  # fmt: skip
            started = time.monotonic()
            assert await database.write(lambda c: c.execute("SELECT 1").fetchall()) == [(1,)]
            assert await database.read(lambda c: c.execute("SELECT 2").fetchall()) == [(2,)]
            # a try and a pause per dead connection took 0.5 + 1 + … s: over 3 s for three
            assert time.monotonic() - started < 1.5
        finally:
            await database.close()
