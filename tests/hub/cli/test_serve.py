"""The command line next to a running `hub serve`, in both modes (as an operator uses it)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.hub.harness import Deployment

pytestmark = pytest.mark.timeout(180)


def hub(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("via", ["store", "api"])
def test_send_inbox_trace_status_against_a_running_hub(
    deployment: Deployment, tmp_path: Path, via: str
) -> None:
    """The same commands next to the hub (``--config``: the store) and from a department's
    machine (``--url``/``--token``: the API that ``hub serve`` runs)."""
    config = str(deployment.config_path)
    good_id, good = deployment.envelope("dept.finance", "dept.culture")
    bad_id, bad = deployment.envelope("dept.finance", "dept.culture", sign_as="dept.land")
    (tmp_path / "good.xml").write_bytes(good)
    (tmp_path / "bad.xml").write_bytes(bad)
    server = subprocess.Popen(
        [sys.executable, "-m", "hub", "serve", "--config", config],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        assert server.stderr is not None
        url = ""
        while time.monotonic() < deadline:
            line = server.stderr.readline()
            if found := re.search(r"api at (http://\S+)", line):
                url = found.group(1)
            if "metrics at http://" in line:
                break
        else:
            pytest.fail("hub serve did not start")
        assert url, "hub serve logged no API address"
        where = {p: ["--config", config] for p in ("dept.finance", "dept.culture")}
        if via == "api":
            for participant in where:
                made = hub("tokens", "create", participant, "--config", config, cwd=tmp_path)
                assert made.returncode == 0, made.stderr
                token = made.stdout.strip().splitlines()[-1]
                where[participant] = ["--url", url, "--token", token]
        finance, culture = where["dept.finance"], where["dept.culture"]
        sent = hub("send", "good.xml", "bad.xml", *finance, cwd=tmp_path)
        assert sent.returncode == 1  # one of them was rejected
        # the state when the decision was read: accepted and on its way, or already there
        # (a loaded machine may not have delivered yet; the inbox and the trace below see it)
        good_line, bad_line = sent.stdout.splitlines()
        assert good_line in (f"{good_id} routed", f"{good_id} delivered"), sent.stdout
        assert bad_line == f"{bad_id} rejected"
        assert "belongs to dept.land" in sent.stderr
        again = hub("send", "good.xml", *finance, cwd=tmp_path)
        assert again.stdout.strip() in (f"{good_id} routed", f"{good_id} delivered")
        taken = hub("inbox", "dept.culture", *culture, "-o", "in", cwd=tmp_path)
        assert taken.stdout.strip() == f"{good_id} dept.finance request", taken.stderr
        delivered = (tmp_path / "in" / f"{good_id}.xml").read_bytes()
        assert b"HubSignature" in delivered and good_id.encode() in delivered
        empty = hub("inbox", "dept.culture", *culture, "-o", "in", cwd=tmp_path)
        assert empty.stdout == ""  # taken once, acknowledged: not again
        trace = hub("trace", good_id, "--json", *finance, cwd=tmp_path)
        data = json.loads(trace.stdout)
        assert data["message_id"] == good_id and data["state"] == "acknowledged"
        assert [e["state"] for e in data["events"]][:4] == [
            "received",
            "accepted",
            "routed",
            "delivered",
        ]
        assert [e["state"] for e in data["events"]][-1] == "acknowledged"
        status = hub("status", "--config", config, cwd=tmp_path)
        assert status.returncode == 0 and "running (pid" in status.stdout
        # the one node alive, where it serves, and the job it does for all
        assert "nodes alive: 1\n" in status.stdout
        (node,) = [line for line in status.stdout.splitlines() if f"api {url}" in line]
        assert "/metrics" in node and node.endswith("holds archive-heads, execution-control")
        redo = hub("init", str(deployment.directory), cwd=tmp_path)
        assert redo.returncode == 1 and "exists" in redo.stderr
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(60)
    assert not (deployment.config.path(deployment.config.data_dir) / "hub.pid").exists()
