"""The OpenAPI document is the contract, checked against the live API: schemathesis (its command
line: examples, boundary values and fuzzing) generates requests for every operation from
``/openapi.json`` and sends them to a running ``hub serve`` (embedded mode), as an
administrator and as a department. No answer may be a server error or break the document:
status codes, media types, bodies, headers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.hub.harness import make_deployment

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    ]
)
ROOT = Path(__file__).resolve().parents[3]


def _hub(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "hub", *args], cwd=cwd, capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip
    return done.stdout


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``hub serve`` on a fresh embedded deployment, tokens, and a few messages in it."""
    root = tmp_path_factory.mktemp("contract")
    deployment = make_deployment(root / "deploy")
    config = str(deployment.config_path)
    env = {**os.environ, "HUB_API__RATE": "100000", "HUB_API__BURST": "100000"}
    server = subprocess.Popen(
        [sys.executable, "-m", "hub", "serve", "--config", config],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip
    try:
        url = ""
        deadline = time.monotonic() + 60
        assert server.stderr is not None
        while time.monotonic() < deadline and not url:
            if found := re.search(r"api at (http://\S+)", server.stderr.readline()):
                url = found.group(1)
        assert url, "hub serve did not start its API"
        tokens = {
            role: _hub("tokens", "create", who, "--role", role, "--config", config, cwd=root)
            .strip()
            .splitlines()[-1]
            for who, role in (("hub.main", "admin"), ("dept.finance", "participant"))
        }
        for n in range(3):
            _, body = deployment.envelope("dept.finance", "dept.culture")
            (root / f"m{n}.xml").write_bytes(body)
            _hub("send", f"m{n}.xml", "--config", config, cwd=root)
        yield {"url": url, "tokens": tokens, "root": root, "server": server}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(60)


@pytest.mark.parametrize("role", ["admin", "participant"])
def test_the_live_api_keeps_its_contract(live: dict[str, Any], role: str) -> None:
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.hub.api.contract_hooks",
        "PYTHONPATH": str(ROOT),
    }
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"), "run",
            f"{live['url']}/openapi.json",
            "--header", f"Authorization: Bearer {live['tokens'][role]}",
            "--checks", CHECKS,
            "--phases", "examples,coverage,fuzzing",
            "--max-examples", "40",
            "--workers", "1",
            "--seed", "20261206",
            "--request-timeout", "20",
            "--suppress-health-check", "all",
        ],
        cwd=live["root"], env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    (live["root"] / f"schemathesis-{role}.txt").write_text(run.stdout + run.stderr)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "No issues found" in run.stdout or " passed" in run.stdout, run.stdout[-3000:]
    assert live["server"].poll() is None  # the hub kept serving
