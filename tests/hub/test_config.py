"""hub.toml's ``broker_url``: one broker, or a cluster's nodes as a list or joined by commas."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import ConfigError, HubConfig, load_config

NODES = ["amqp://hub:pw@mq1:5672/prod", "amqp://hub:pw@mq2:5672/prod", "amqps://hub:pw@mq3/prod"]


def test_one_url_is_one_node_and_empty_is_embedded() -> None:
    assert HubConfig(broker_url=NODES[0]).broker_urls == NODES[:1]
    assert HubConfig().broker_urls == []
    assert HubConfig().embedded


def test_a_toml_list_of_nodes_is_kept_in_order(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text("broker_url = [" + ", ".join(f'"{u}"' for u in NODES) + "]\n")
    config = load_config(path)
    assert config.broker_urls == NODES
    assert not config.embedded


def test_the_environment_gives_the_nodes_joined_by_commas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "hub.toml"
    path.write_text('broker_url = "amqp://elsewhere/"\n')
    monkeypatch.setenv("HUB_BROKER_URL", " , ".join(NODES))
    assert load_config(path).broker_urls == NODES


def test_a_node_that_is_no_amqp_url_is_named(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text('broker_url = ["amqp://mq1/", "mq2:5672"]\n')
    with pytest.raises(ConfigError, match=r"broker_url.*'mq2:5672'"):
        load_config(path)


def test_check_publisher_needs_one_broker_user_across_the_cluster(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(
        'broker_url = ["amqp://hub:a@mq1/hub", "amqp://other:b@mq2/hub"]\n'
        "[security]\ncheck_publisher = true\n"
    )
    with pytest.raises(ConfigError, match="one broker user"):
        load_config(path)
    path.write_text(
        'broker_url = ["amqp://hub:a@mq1/hub", "amqp://hub:a@mq2/hub"]\n'
        '[security]\ncheck_publisher = true\ntrusted_publishers = ["gateway"]\n'
    )
    config = load_config(path)
    assert config.broker_users == {"hub"} and config.security.trusted_publishers == ["gateway"]
