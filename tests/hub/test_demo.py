"""The README's first command: `hub demo` runs the whole product on the embedded default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hub.demo import run_demo


@pytest.mark.timeout(300)
def test_demo_runs_every_path_and_says_ok(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = run_demo(tmp_path / "demo")
    out = capsys.readouterr().out
    assert status == 0, out
    assert "demo OK" in out
    assert "extract request over SMEV 3" in out and "SMEV: messageIsDelivered" in out
    assert re.search(r"transport\s+rejected\s+signature_invalid", out)
    assert out.count("answered by") >= 2  # the memo and the SMEV request were answered
    memo = out.split("# memo finance → culture", 1)[1].split("\n# ", 1)[0]
    states = [line.split()[2] for line in memo.splitlines() if line.startswith("  20")]
    assert states.index("delivered") < states.index("answered"), memo  # in causal order
    # execution control: the memo went the whole way, the application is overdue
    assert "memo finance → culture: control_closed, № 1/26, executor Иванова А.А." in out
    assert re.search(r"application with 3 attachments: executor_assigned, .* overdue True", out)
    assert "Сводка об исполнении документов" in out
    labelled = [line.split()[1] for line in memo.splitlines() if line.startswith("  20")]
    assert labelled.count("execution") >= 6
