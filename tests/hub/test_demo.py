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
    medo = out.split("MEDO (docs/medo-adapter.md)", 1)[1].split("HTTP API", 1)[0]
    assert "registered: medo: agency.minfin: Зарегистрирован" in medo, medo
    assert "letter finance → ministry: answered" in medo
    labelled = [line.split()[1] for line in memo.splitlines() if line.startswith("  20")]
    assert labelled.count("execution") >= 6


@pytest.mark.timeout(300)
def test_demo_serve_keeps_the_hub_with_the_page_and_its_users(tmp_path: Path) -> None:
    """`hub demo --serve`: the page's address and a user per role, then a manager logs in and
    sees the demo's documents; Ctrl-C stops it cleanly."""
    import os
    import signal
    import subprocess
    import sys

    import httpx

    hub = Path(sys.executable).with_name("hub")
    process = subprocess.Popen(
        [str(hub), "demo", "--serve", "--address", "127.0.0.1:0", "--dir", str(tmp_path / "d")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    try:
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C"):
                break
        out = "".join(lines)
        page = re.search(r"The managers' page: (http://\S+)/ui/", out)
        user = re.search(r"^  culture\s+(\S+)\s+manager, Управление культуры$", out, re.M)
        assert page and user, out
        # (the cookies are Secure: a browser sends them to 127.0.0.1 over HTTP, httpx's jar
        # does not, so they are carried by hand)
        with httpx.Client(base_url=page.group(1)) as browser:
            form = browser.get("/ui/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert csrf, form.text
            login = browser.post(
                "/ui/login",
                data={"username": "culture", "password": user.group(1), "csrf": csrf.group(1)},
                headers={"Cookie": f"hub_login={form.cookies['hub_login']}"},
            )
            assert login.status_code == 303, login.text
            session = login.cookies["hub_session"]
            overview = browser.get("/ui/", headers={"Cookie": f"hub_session={session}"})
            assert overview.status_code == 200
            assert "Управление культуры" in overview.text and 'class="docs"' in overview.text
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0, "".join(lines) + process.stdout.read()
