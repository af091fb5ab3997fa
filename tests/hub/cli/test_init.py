"""``hub init DIR --store URL``: the store's URL in hub.toml, a malformed one refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli.deployment import init_command
from hub.config import ConfigError, load_config
from hub.store import open_store
from hub.store.postgres import PostgresStore
from tests.support.postgres import postgres_store_url


def init(directory: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(init_command, [str(directory), "--departments", "dept.a", *args])
    return result.exit_code, result.output


def test_the_store_url_goes_into_hub_toml(tmp_path: Path) -> None:
    url = "postgresql://hub:s3cr%22et@db.local:5432/hub?sslmode=require"
    code, out = init(tmp_path / "d", "--store", url)
    assert code == 0, out
    config = load_config(tmp_path / "d" / "hub.toml")
    assert config.store.url == url and config.postgres
    assert config.store_location == "postgresql://hub:…@db.local:5432/hub?sslmode=require"


def test_without_a_store_url_the_store_stays_in_the_data_folder(tmp_path: Path) -> None:
    code, out = init(tmp_path / "d")
    assert code == 0, out
    text = (tmp_path / "d" / "hub.toml").read_text()
    assert '[store]\nurl = ""' in text
    config = load_config(tmp_path / "d" / "hub.toml")
    assert not config.postgres and config.database == tmp_path / "d" / "data" / "hub.sqlite"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://hub:secret@db.local/hub", "not a store URL"),
        ("postgresql://hub:secret@db.local:54x2/hub", "the port is not a number"),
        ("postgresql://hub:secret@db.local:99999/hub", "the port is not a number"),
        ("postgresql:///hub", "names no host"),
        ("postgresql://hub:secret@db.local/hub/extra", "one name after the host"),
        ("postgresql://hub:secret@db local/hub", "no spaces"),
        ("sqlite://hub.sqlite", "sqlite:///path"),
        ("db.local:5432", "not a store URL"),
    ],
)
def test_a_malformed_store_url_is_refused_before_anything_is_written(
    tmp_path: Path, url: str, says: str
) -> None:
    code, out = init(tmp_path / "d", "--store", url)
    assert code == 2, out
    assert "--store" in out and says in out
    assert "secret" not in out  # the password is not repeated on the screen
    assert not (tmp_path / "d").exists()


def test_hub_toml_with_a_malformed_store_url_names_the_key(tmp_path: Path) -> None:
    code, out = init(tmp_path / "d")
    assert code == 0, out
    path = tmp_path / "d" / "hub.toml"
    path.write_text(path.read_text().replace('url = ""', 'url = "postgres://db:x/hub"'))
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert "store.url" in str(refused.value) and "the port is not a number" in str(refused.value)


@pytest.mark.postgresql
async def test_a_deployment_made_with_a_store_url_opens_that_store(tmp_path: Path) -> None:
    with postgres_store_url() as url:
        code, out = init(tmp_path / "d", "--store", url)
        assert code == 0, out
        store = await open_store(load_config(tmp_path / "d" / "hub.toml"))
        try:
            assert isinstance(store, PostgresStore) and await store.ping()
        finally:
            await store.close()
