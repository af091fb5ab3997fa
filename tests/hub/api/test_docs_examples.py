"""Every example of docs/api.md that is marked ``<!-- example: as=WHO [capture=VAR:path] -->``
runs, in order, with curl against a live hub: the docs say what the API does.

``as`` picks the token (HUB_TOKEN); ``capture`` takes a value from the block's JSON output
(a dotted path) into a variable for the blocks after it (MESSAGE_ID, LEASE_ID). Each block
runs under ``bash -euo pipefail``; the examples use ``curl --fail-with-body``, so an HTTP
error fails the block."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.hub.api.support import Api

DOC = Path(__file__).resolve().parents[3] / "docs" / "api.md"
MARKED = re.compile(r"<!-- example: (?P<spec>[^>]*?) -->\n```sh\n(?P<code>.*?)```", re.S)
TOKENS = {"finance": "finance", "culture": "culture", "admin": "admin"}


def examples() -> list[tuple[dict[str, str], str]]:
    found = []
    for match in MARKED.finditer(DOC.read_text(encoding="utf-8")):
        spec = dict(part.split("=", 1) for part in match["spec"].split())
        found.append((spec, match["code"]))
    return found


def dig(data: Any, path: str) -> str:
    for key in path.split("."):
        data = data[int(key)] if isinstance(data, list) else data[key]
    return str(data)


async def test_the_curl_examples_of_docs_api_md(api: Api, tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        if os.environ.get("CI"):
            pytest.fail("curl is needed to run the examples of docs/api.md")
        pytest.skip("no curl")
    found = examples()
    assert len(found) >= 10, "docs/api.md lost its examples"
    _, body = api.deployment.envelope("dept.finance", "dept.culture")
    (tmp_path / "signed.xml").write_bytes(body)
    variables: dict[str, str] = {"HUB_URL": api.url}
    for spec, code in found:
        env = {**os.environ, **variables, "HUB_TOKEN": api.tokens[TOKENS[spec["as"]]]}
        process = await asyncio.create_subprocess_exec(
            "bash", "-euo", "pipefail", "-c", code, cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, f"{code}\n-> {out.decode()} {err.decode()}"
        assert out.strip() or "-o " in code or "/ack" in code, code  # 204: no body
        if "capture" in spec:
            name, _, path = spec["capture"].partition(":")
            variables[name] = dig(json.loads(out), path)
    assert (tmp_path / "svodka.xlsx").read_bytes()[:2] == b"PK"  # the report example's file
    row = await api.hub.store.get_message(variables["MESSAGE_ID"])
    assert row is not None and row.state == "acknowledged"  # the inbox example acked it
