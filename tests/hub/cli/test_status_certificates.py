"""`hub status` names the certificates that expire within 30 days (7: urgent), with the date."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from click.testing import CliRunner

from envelopes.pki import new_participant
from hub.cli import main
from hub.scaffold import init_deployment


def test_status_lists_expiring_certificates(tmp_path: Path) -> None:
    config = init_deployment(tmp_path / "d", ["dept.finance", "dept.culture"])
    pki = tmp_path / "d" / "pki"
    new_participant("dept.culture", pki, days=5)
    new_participant("dept.finance", pki, days=25)
    runner = CliRunner()
    text = runner.invoke(main, ["status", "--config", str(config)])
    assert text.exit_code == 0, text.output
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=5, minutes=-5)).strftime("%d.%m.%Y")
    lines = text.output.splitlines()
    culture = next(line for line in lines if "pki/dept.culture.pem" in line)
    finance = next(line for line in lines if "pki/dept.finance.pem" in line)
    assert "URGENT" in culture and soon in culture
    assert "renew" in finance
    assert not any("hub.main.pem" in line for line in lines)  # a year left: not listed
    data = json.loads(runner.invoke(main, ["status", "--config", str(config), "--json"]).output)
    files = [c["file"] for c in data["certificates_expiring"]]
    assert files == ["pki/dept.culture.pem", "pki/dept.finance.pem"]  # soonest first
