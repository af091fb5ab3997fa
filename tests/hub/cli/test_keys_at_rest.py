"""Keys at rest: encrypted PKCS#8, the passphrase from the environment or a file (never an
option's value); `hub init --encrypt-keys`; a missing or wrong passphrase is one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from envelopes.errors import CertificateError
from envelopes.pki import load_private_key
from hub.cli import main
from hub.config import load_config
from hub.trust import hub_signer


def test_init_encrypts_every_key_and_the_hub_opens_it_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "passphrase"
    secret.write_text("correct horse battery staple\n")
    result = CliRunner().invoke(
        main,
        [
            "init",
            str(tmp_path / "d"),
            "--departments",
            "dept.finance",
            "--encrypt-keys",
            "--passphrase-file",
            str(secret),
        ],
    )
    assert result.exit_code == 0, result.output
    pki = tmp_path / "d" / "pki"
    for name in ("ca", "hub.main", "dept.finance"):
        pem = (pki / f"{name}.key.pem").read_text()
        assert pem.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----"), name
        assert oct((pki / f"{name}.key.pem").stat().st_mode & 0o777) == "0o600"
    with pytest.raises(CertificateError, match="the key is encrypted"):
        load_private_key(pki / "hub.main.key.pem")
    with pytest.raises(CertificateError, match="the passphrase does not open it"):
        load_private_key(pki / "hub.main.key.pem", b"wrong")
    config = load_config(tmp_path / "d" / "hub.toml")
    assert config.pki.key_passphrase_file == secret.resolve()
    assert hub_signer(config).participant_id == "hub.main"
    # the development CA stays usable: a new participant, the CA opened with the same file
    made = CliRunner().invoke(
        main,
        [
            "keys",
            "new",
            "dept.land",
            "--out",
            str(pki),
            "--encrypt",
            "--passphrase-file",
            str(secret),
        ],
    )
    assert made.exit_code == 0, made.output
    assert "ENCRYPTED" in (pki / "dept.land.key.pem").read_text()
    refused = CliRunner().invoke(main, ["keys", "new", "dept.x", "--out", str(pki)], env={})
    assert refused.exit_code == 1 and "the key is encrypted" in refused.output


def test_encryption_needs_a_passphrase_and_takes_none_on_the_command_line(
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    missing = runner.invoke(
        main, ["init", str(tmp_path / "d"), "--encrypt-keys"], env={"HUB_KEY_PASSPHRASE": ""}
    )
    assert missing.exit_code == 1 and "HUB_KEY_PASSPHRASE" in missing.output
    assert not (tmp_path / "d" / "hub.toml").exists()
    given = runner.invoke(main, ["init", str(tmp_path / "d"), "--passphrase", "x"])
    assert given.exit_code == 2 and "No such option" in given.output


def test_serve_says_why_it_cannot_open_the_key(tmp_path: Path) -> None:
    made = CliRunner().invoke(
        main,
        ["init", str(tmp_path / "d"), "--departments", "dept.finance", "--encrypt-keys"],
        env={"HUB_KEY_PASSPHRASE": "the right one"},
    )
    assert made.exit_code == 0, made.output
    for env in ({}, {"HUB_KEY_PASSPHRASE": "a wrong one"}):
        done = subprocess.run(
            [sys.executable, "-m", "hub", "serve", "--config", str(tmp_path / "d" / "hub.toml")],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": "/usr/bin", **env},
        )
        assert done.returncode == 1
        assert done.stderr.startswith("rejected: [pki] key: ")
        assert "Traceback" not in done.stderr
