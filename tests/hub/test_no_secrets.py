"""No secret in anything the hub writes: a realistic session (encrypted keys, API tokens, a
managers' page user, good and bad credentials, submissions, errors, metrics, trace, status)
against `hub serve` at DEBUG, then every byte it wrote — logs, responses, metrics, the store,
the command line's output — is searched for the secrets it was given."""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from envelopes.signatures import Signer
from tests.hub.harness import MEMO

pytestmark = pytest.mark.timeout(180)


def run(*args: str, env: dict[str, str], given: str | None = None, out: bool = False) -> str:
    """The command's output and errors (``out``: its standard output only)."""
    done = subprocess.run(
        [sys.executable, "-m", "hub", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        input=given,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.stdout if out else done.stdout + done.stderr


def test_a_session_leaves_no_secret_anywhere(tmp_path: Path) -> None:
    passphrase = f"pass-{uuid.uuid4().hex}"
    env = {**os.environ, "HUB_KEY_PASSPHRASE": passphrase}
    directory = tmp_path / "deploy"
    written: list[str] = []  # everything the session printed or answered
    written.append(
        run(
            "init",
            str(directory),
            "--departments",
            "dept.finance,dept.culture",
            "--encrypt-keys",
            "--api-address",
            "127.0.0.1:0",
            "--metrics-address",
            "127.0.0.1:0",
            env=env,
        )
    )
    config = directory / "hub.toml"
    text = config.read_text().replace('log_level = "INFO"', 'log_level = "DEBUG"')
    config.write_text(text.replace("workers = ", "workers = 1 #"))
    key_pem = (directory / "pki" / "dept.finance.key.pem").read_text()
    assert "ENCRYPTED PRIVATE KEY" in key_pem  # keys at rest are encrypted
    key_lines = [line for line in key_pem.splitlines() if line and "-----" not in line]
    token = run("tokens", "create", "dept.finance", "--config", str(config), env=env, out=True)
    token = token.strip()
    assert token.startswith("hubt_")
    ui_password = f"pw-{uuid.uuid4().hex}"
    written.append(
        run(
            "users",
            "create",
            "ivanova",
            "--role",
            "admin",
            "--password-stdin",
            "--config",
            str(config),
            env=env,
            given=ui_password + "\n",
        )
    )
    wrong_token = f"hubt_{uuid.uuid4().hex[:8]}_{uuid.uuid4().hex}wrong"
    basic = base64.b64encode(f"dept.finance:{ui_password}".encode()).decode()
    wrong_password = f"wrong-{uuid.uuid4().hex}"

    log_file = tmp_path / "serve.log"
    with log_file.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "hub", "serve", "--config", str(config)],
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,
        )
    try:
        url = metrics = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not metrics:
            text = log_file.read_text()
            if found := re.search(r"api at (http://\S+)", text):
                url = found.group(1)
            if found := re.search(r"metrics at (http://\S+)", text):
                metrics = found.group(1)
            time.sleep(0.1)
        assert url and metrics, log_file.read_text()
        signer = Signer.from_files(
            str(directory / "pki" / "dept.finance.key.pem"),
            str(directory / "pki" / "dept.finance.pem"),
            passphrase.encode(),
        )
        from envelopes.codec import new_envelope, to_bytes
        from envelopes.parsing import parse_xml

        _, root = new_envelope("dept.finance", "dept.culture", parse_xml(MEMO.read_bytes()))
        signer.sign(root)
        envelope = to_bytes(root)
        good = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, timeout=30) as client:
            answers = [
                client.post("/v1/envelopes?wait=10", content=envelope, headers=good),
                client.post(
                    "/v1/envelopes",
                    content=envelope,
                    headers={"Authorization": f"Bearer {wrong_token}"},
                ),
                client.post(
                    "/v1/envelopes", content=envelope, headers={"Authorization": f"Basic {basic}"}
                ),
                client.post("/v1/envelopes", content=b"<broken", headers=good),
                client.get(f"/v1/messages?token={token}", headers=good),
                client.get("/v1/me", headers={"Authorization": token}),  # no scheme
                client.get("/v1/admin/participants", headers=good),  # a role it lacks
            ]
            login = client.get("/ui/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', login.text)
            assert csrf is not None
            for password in (wrong_password, ui_password):
                answers.append(
                    client.post(
                        "/ui/login",
                        data={"username": "ivanova", "password": password, "csrf": csrf.group(1)},
                    )
                )
            answers.append(client.get("/ui/"))
        assert answers[0].status_code == 200, answers[0].text
        assert answers[1].status_code == 401 and answers[2].status_code == 401
        message_id = answers[0].json()["message_id"]
        written += [f"{a.status_code} {a.headers} {a.text}" for a in answers]
        written.append(httpx.get(f"{metrics}/metrics", timeout=30).text)
        written.append(run("trace", message_id, "--json", "--config", str(config), env=env))
        written.append(run("status", "--config", str(config), env=env))
        written.append(run("trace", message_id, "--url", url, "--token", token, env=env))
        written.append(run("trace", message_id, "--url", url, "--token", wrong_token, env=env))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    written.append(log_file.read_text())
    assert "DEBUG" in written[-1]  # the log did talk
    # the store and every other file the hub wrote (the key folder aside)
    for path in (directory / "data").rglob("*"):
        if path.is_file():
            written.append(path.read_bytes().decode("latin-1"))
    everything = "\n".join(written)
    secrets = {
        "token": token.split("_", 2)[2],  # hubt_<id>_<secret>: the secret may hold "_"
        "wrong token": wrong_token.split("_", 2)[2],
        "passphrase": passphrase,
        "page password": ui_password,
        "wrong page password": wrong_password,
        "basic credentials": basic,
    }
    leaked = [name for name, secret in secrets.items() if secret in everything]
    leaked += ["private key"] * any(line in everything for line in key_lines)
    assert "PRIVATE KEY" not in everything
    assert leaked == [], f"secrets written: {leaked}"


def test_log_lines_are_redacted_whatever_a_message_holds() -> None:
    """The net under the code: what a message or a traceback might carry is cut out."""
    import logging

    from hub.logs import JsonFormatter, TextFormatter, register_secret

    register_secret("correct horse battery")
    secret = "hubt_ab12cd34_" + "S3cr3t-_x" * 4
    try:
        raise ValueError(f"amqp://hub:topsecret@mq/ with correct horse battery, token {secret}")
    except ValueError:
        record = logging.LogRecord(
            "hub",
            logging.ERROR,
            __file__,
            1,
            "request %s failed: %s",
            (
                "Authorization: Bearer " + secret,
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHz\n"
                "-----END ENCRYPTED PRIVATE KEY-----",
            ),
            sys.exc_info(),
        )
    for formatter in (TextFormatter("%(message)s"), JsonFormatter()):
        line = formatter.format(record)
        assert "S3cr3t" not in line and "topsecret" not in line and "MIIFHz" not in line
        assert "correct horse" not in line and "PRIVATE KEY" not in line.replace("key redacted", "")
        assert "hubt_ab12cd34_" in line  # the token's id stays: it names the token
