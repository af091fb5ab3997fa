"""kill -9 of ``hub serve`` at the two moments that matter, then a normal restart: nothing is
lost, nothing is submitted twice, and no half package is ever visible in the folders.

The moments are exact (``HUB_MEDO_FAILPOINT`` makes the hub SIGKILL itself there), not a
matter of timing: after a package was accepted and acknowledged but before its folder was
removed, and after a package's files were written but before its folder was renamed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from adapters.medo.package import parse_package, read_folder
from adapters.medo.peer import Peer
from hub.ops.inbox import inbox

from .conftest import CHANCELLERY, HUB_UID, MedoPki
from .deployment import config_of, make_medo_deployment


def serve(path: Path, failpoint: str = "") -> subprocess.Popen[bytes]:
    env = dict(os.environ, HUB_LOG_LEVEL="WARNING")
    env.pop("HUB_MEDO_FAILPOINT", None)
    if failpoint:
        env["HUB_MEDO_FAILPOINT"] = failpoint
    log = open(path.parent / "hub.log", "ab")  # noqa: SIM115 - the child keeps it
    return subprocess.Popen(
        [sys.executable, "-m", "hub", "serve", "--config", str(path)],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )


def visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


async def test_kill_9_while_reading_and_writing_packages_loses_nothing(
    tmp_path: Path, medo_pki: MedoPki, peer: Peer
) -> None:
    directory = tmp_path / "deploy"
    path = make_medo_deployment(directory, medo_pki)
    medo = directory / "medo"
    peer.inbox, peer.outbox = medo / "out", medo / "in"
    sent = [
        peer.send_document(
            HUB_UID, {f"Письмо {n}.pdf": b"%PDF"}, title=f"Письмо {n}", number=str(n)
        )
        for n in range(3)
    ]
    for failpoint in ("accepted-before-remove", "written-before-rename"):
        hub = serve(path, failpoint)
        assert hub.wait(timeout=60) == -signal.SIGKILL, (directory / "hub.log").read_text()
        for folder in visible(medo / "out"):  # whatever the MEDO client may see is whole
            parse_package(read_folder(folder))
        assert len(visible(medo / "in")) >= 1  # the package being handled is still there
    assert any(p.name.startswith(".tmp-") for p in (medo / "out").iterdir())  # died mid-write
    hub = serve(path)
    try:
        deadline = time.monotonic() + 60
        while visible(medo / "in") or len(visible(medo / "out")) < len(sent):
            assert time.monotonic() < deadline, "the restarted hub did not finish"
            assert hub.poll() is None, (directory / "hub.log").read_text()
            await asyncio.sleep(0.1)
    finally:
        hub.send_signal(signal.SIGTERM)
        hub.wait(timeout=60)
    acknowledged = []
    for folder in visible(medo / "out"):
        package = parse_package(read_folder(folder))
        assert package.message.acknowledgment is not None
        acknowledged.append(package.message.acknowledgment.uid)
    assert sorted(acknowledged) == sorted(sent)  # each once, none half written
    assert not any(p.name.startswith(".tmp-") for p in (medo / "out").iterdir())
    items = await inbox(config_of(path), CHANCELLERY, tmp_path / "inbox", None, 0.5)
    documents = [i for i in items if i.sender == "agency.minfin"]
    assert len(documents) == len(sent) == len({i.message_id for i in documents})
    assert list((medo / "quarantine").iterdir()) == []
