"""Large attachments on the command line, next to the hub and through the API: `hub envelope
new --attach` puts big files by reference, `hub send` uploads them (streamed) before the
envelope, `hub inbox -o` writes every attachment next to the envelope, checked."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hub.cli import main
from tests.hub.api.support import Api

SMALL = b"a small table\n" * 10


async def run(*argv: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, main, list(argv))


def _files(folder: Path, big: bytes) -> None:
    folder.mkdir()
    (folder / "scan.pdf").write_bytes(big)
    (folder / "table.csv").write_bytes(SMALL)


async def signed_with_attachments(api: Api, folder: Path, big: bytes) -> Path:
    await asyncio.to_thread(_files, folder, big)
    memo = Path(__file__).parents[3] / "xsd" / "examples" / "memo.xml"
    pki = api.deployment.pki
    made = await run(
        "envelope", "new", "--from", "dept.finance", "--to", "dept.culture",
        "--payload", str(memo), "--attach", str(folder / "scan.pdf"),
        "--attach", str(folder / "table.csv"), "-o", str(folder / "env.xml"),
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    text = await asyncio.to_thread((folder / "env.xml").read_bytes)
    assert b"blob:sha256:" + hashlib.sha256(big).hexdigest().encode() in text
    assert len(text) < 20_000  # the big one is by reference, the small one inline
    signed = await run(
        "envelope", "sign", str(folder / "env.xml"), "--key", str(pki / "dept.finance.key.pem"),
        "--cert", str(pki / "dept.finance.pem"), "-o", str(folder / "signed.xml"),
    )  # fmt: skip
    assert signed.exit_code == 0, signed.output
    return folder / "signed.xml"


def check_written(folder: Path, message_id: str, big: bytes) -> None:
    files = folder / f"{message_id}.files"
    assert (files / "scan.pdf").read_bytes() == big
    assert (files / "table.csv").read_bytes() == SMALL
    assert not list(files.glob("*.part"))


@pytest.mark.parametrize("how", ["remote", "local"])
async def test_send_and_take_a_large_attachment(api: Api, tmp_path: Path, how: str) -> None:
    big = os.urandom(2 * 1024 * 1024 + 7)
    envelope = await signed_with_attachments(api, tmp_path / "out", big)
    if how == "remote":
        finance = ["--url", api.url, "--token", api.tokens["finance"]]
        culture = ["--url", api.url, "--token", api.tokens["culture"]]
    else:
        finance = culture = ["--config", str(api.deployment.config_path)]
    sent = await run("send", str(envelope), *finance)
    assert sent.exit_code == 0, sent.output
    message_id, state = sent.stdout.split()
    assert state in ("delivered", "accepted", "routed"), sent.output
    inbox = str(tmp_path / "in")
    taken = await run("inbox", "dept.culture", *culture, "--wait", "10", "-o", inbox)
    assert taken.exit_code == 0, taken.output
    assert message_id in taken.stdout
    await asyncio.to_thread(check_written, tmp_path / "in", message_id, big)
    # sent again: the blob is there already (not uploaded twice), the same message
    again = await run("send", str(envelope), *finance)
    assert again.exit_code == 0 and again.stdout.split()[0] == message_id


async def test_send_names_an_attachment_without_its_file(api: Api, tmp_path: Path) -> None:
    envelope = await signed_with_attachments(api, tmp_path / "out", os.urandom(1_100_000))
    await asyncio.to_thread((tmp_path / "out" / "scan.pdf").write_bytes, b"something else")
    sent = await run("send", str(envelope), "--url", api.url, "--token", api.tokens["finance"])
    assert sent.exit_code == 1 and "give its file with --attach" in sent.output
