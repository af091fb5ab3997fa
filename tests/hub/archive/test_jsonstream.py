"""A manifest read member by member: the same values as ``json.loads``, whatever the chunks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hub.archive.jsonstream import read_object

DOC = {
    "format": "hub-archive-bundle/1",
    "head": 12_345_678,
    "files": {f"messages/{n}/envelope.xml": f"{n:064x}" for n in range(300)},
    "pruned": ["a", "б"],
    "messages": [str(n) for n in range(50)],
    "other": {"x": [1, 2.5, {"y": None}], "z": True},
    "n": -1.5e3,
}


@pytest.mark.parametrize("size", [1, 2, 7, 64, 1 << 20])
@pytest.mark.parametrize("indent", [None, 1])
def test_members_come_one_by_one_whatever_the_chunks(size: int, indent: int | None) -> None:
    data = json.dumps(DOC, indent=indent, ensure_ascii=False).encode()
    files: dict[str, Any] = {}
    pruned: list[Any] = []
    out = read_object(
        iter([data[i : i + size] for i in range(0, len(data), size)]),
        {"files": files.__setitem__, "pruned": lambda _, v: pruned.append(v)},
    )
    assert files == DOC["files"] and pruned == DOC["pruned"]
    assert {k: v for k, v in out.items() if k not in ("files", "pruned")} == {
        k: v for k, v in DOC.items() if k not in ("files", "pruned")
    }


@pytest.mark.parametrize(
    "text", [b"", b"[1]", b'{"a": 1', b'{"a": 1} x', b"{1: 2}", b'{"files": {"a": 1,}}', b'{"a" 1}']
)
def test_what_is_not_one_json_object_is_refused(text: bytes) -> None:
    with pytest.raises(ValueError):
        read_object(iter([text]), {"files": lambda _, __: None})
