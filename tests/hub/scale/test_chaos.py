"""Scale-out under steady load (issue 18): three hub nodes on one PostgreSQL store with one
killed, a RabbitMQ cluster node killed, PostgreSQL restarted. Counted as bench/chaos.py counts
(``bench/chaos.py --scenario hub-node|rabbitmq-node|postgres-restart`` runs the same)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.postgres import require_postgres_control
from tests.support.rabbit_cluster import RabbitCluster
from tests.support.scale import broker_node_killed, hub_node_killed, postgres_restarted

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.mark.rabbitmq
@pytest.mark.postgresql
async def test_three_hubs_on_postgresql_one_killed_the_others_finish_its_work(
    vhost_url: str, store_url: str, tmp_path: Path
) -> None:
    counts = await hub_node_killed(tmp_path / "deploy", vhost_url, store_url, n=1500, rate=150)
    print(counts.line())
    assert counts.extra["survivors"] == 2, counts.line()
    assert counts.lost == 0, counts.line()
    assert counts.delivered == counts.sent == 1500, counts.line()
    # a repeat is a copy of the same MessageId, never another message
    assert counts.extra["foreign"] == 0, counts.line()
    assert counts.extra["accepted twice"] == 0, counts.line()


async def test_a_rabbitmq_cluster_node_killed_under_load_loses_nothing(
    rabbit_cluster: RabbitCluster, tmp_path: Path
) -> None:
    vhost = rabbit_cluster.new_vhost()
    counts = await broker_node_killed(tmp_path / "deploy", rabbit_cluster, vhost, n=1500, rate=150)
    print(counts.line())
    assert counts.extra["replicas"] == 3, counts.line()  # quorum queues on all three nodes
    assert counts.extra["online after"] == 2, counts.line()
    assert counts.extra["hub exited"] == 0, counts.line()
    assert counts.lost == 0, counts.line()
    assert counts.delivered == counts.sent == 1500, counts.line()
    assert counts.extra["foreign"] == 0, counts.line()


@pytest.mark.rabbitmq
@pytest.mark.postgresql
async def test_postgresql_restarted_under_load_the_hub_waits_and_resumes(
    vhost_url: str, store_url: str, tmp_path: Path
) -> None:
    """Last in the module: the server goes away under every test running at that moment."""
    require_postgres_control()
    counts = await postgres_restarted(
        tmp_path / "deploy", vhost_url, store_url, n=1000, rate=100, down=5
    )
    print(counts.line())
    assert counts.extra["hub exited"] == 0, counts.line()
    assert counts.lost == 0, counts.line()
    assert counts.delivered == counts.sent == 1000, counts.line()
    assert counts.extra["accepted twice"] == 0, counts.line()
    assert counts.extra["foreign"] == 0, counts.line()
