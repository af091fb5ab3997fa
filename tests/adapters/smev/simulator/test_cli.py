"""``hub smev-sim`` (adapters/smev/simulator/cli.py): it starts, serves, answers and stops."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
from click.testing import CliRunner

from adapters.smev.crypto.certificates import load_certificate
from adapters.smev.simulator.cli import smev_sim
from tests.adapters.smev.simulator.client import (
    SoapClient,
    ack,
    get_response,
    message,
    metadata_id,
    payload,
    send_request,
    status_category,
)

REPO = Path(__file__).resolve().parents[4]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_cli_serves_until_terminated(tmp_path: Path) -> None:
    (tmp_path / "resp.xml").write_text('<r:Resp xmlns:r="urn://example/resp/1.0">ok</r:Resp>')
    rules = tmp_path / "rules.json"
    rules.write_text('{"{urn://example/req/1.0}Req": {"file": "resp.xml"}}')
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "adapters.smev.simulator.cli",
        "--port",
        str(port),
        "--allow-unsigned",
        "--no-statuses",
        "--responder",
        str(rules),
        "--record",
        str(tmp_path / "rec"),
        "--export-ca",
        str(tmp_path / "sim-ca.pem"),
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        url = f"http://127.0.0.1:{port}/"
        assert line.decode().strip() == f"SMEV 3 simulator listening on {url}", line
        assert load_certificate((tmp_path / "sim-ca.pem").read_bytes()).is_ca
        async with aiohttp.ClientSession() as session:
            client = SoapClient(url, None, session)
            assert (await client.call(send_request(payload()))).status == 200
            answer = None
            for _ in range(50):
                answer = message(await client.call(get_response()), "ResponseMessage")
                if answer is not None:
                    break
                await asyncio.sleep(0.1)
            assert answer is not None and status_category(answer) is None
            assert (await client.call(ack(metadata_id(answer)))).status == 200
        assert len(list((tmp_path / "rec").iterdir())) >= 3
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=15)
    assert process.returncode == 0, stderr.decode()


def test_cli_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    some_file = tmp_path / "k.pem"
    some_file.write_text("x")
    result = runner.invoke(smev_sim, ["--key", str(some_file)])
    assert result.exit_code == 2 and "--key and --cert go together" in result.output
    bad_rules = tmp_path / "rules.yaml"
    bad_rules.write_text("Req: resp.xml\n")
    result = runner.invoke(smev_sim, ["--responder", str(bad_rules)])
    assert result.exit_code == 2 and "Clark notation" in result.output
    result = runner.invoke(smev_sim, ["--key", str(some_file), "--cert", str(some_file)])
    assert result.exit_code == 2
    result = runner.invoke(smev_sim, ["--mnemonic", "no-equals-sign"])
    assert result.exit_code == 2 and "CN=MNEMONIC" in result.output


def test_cli_port_taken() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(smev_sim, ["--port", str(port)])
    assert result.exit_code == 1 and "cannot listen" in result.output
