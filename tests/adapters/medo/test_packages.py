"""The adapter's inbound side without a hub (a FakeAdapterContext): good packages in both
dialects are submitted and acknowledged; each kind of bad package is quarantined with a reason
file and a negative acknowledgment, and nothing else in the folders is disturbed."""

from __future__ import annotations

import io
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters.medo.adapter import MedoAdapter
from adapters.medo.conversion import ORIGINAL_NAME, PAYLOAD_TYPE
from adapters.medo.model import CONTAINER_NAME, PackageType
from adapters.medo.package import parse_package, read_folder
from adapters.medo.peer import Peer
from adapters.medo.settings import load_settings
from envelopes.codec import parse_envelope
from hub.testing import FakeAdapterContext

from .conftest import CHANCELLERY, HUB_UID, PEER, PEER_UID, MedoPki

LETTER = {"Письмо о сведениях.pdf": b"%PDF-1.4\n% letter\n", "Приложение №1.txt": "список".encode()}


def make_adapter(root: Path, pki: MedoPki) -> tuple[MedoAdapter, FakeAdapterContext]:
    settings = load_settings(
        {
            "uid": HUB_UID,
            "incoming": "in",
            "outgoing": "out",
            "quarantine": "quarantine",
            "state": "state",
            "inbound_recipient": CHANCELLERY,
            "key": str(pki.hub_key),
            "cert": str(pki.hub_cert),
            "trust": [str(pki.ca)],
            "settle_seconds": 0,
            "base_dir": str(root),
        }
    )
    adapter = MedoAdapter(settings)
    context = FakeAdapterContext()
    context.attributes["medo_uid"] = {PEER: PEER_UID}
    adapter.prepare(context)
    return adapter, context


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def acks(peer: Peer) -> list[tuple[str, bool, str]]:
    found = []
    for package in peer.take(acknowledge=False):
        ack = package.message.acknowledgment
        assert ack is not None, package.message.type
        found.append((ack.uid, ack.accepted, ack.comment))
    return found


async def test_a_good_package_in_each_dialect_is_wrapped_and_acknowledged(
    tmp_path: Path, medo_pki: MedoPki, peer: Peer
) -> None:
    adapter, context = make_adapter(tmp_path, medo_pki)
    new = peer.send_document(HUB_UID, LETTER, title="О предоставлении сведений", number="01/1")
    old = peer.send_document(
        HUB_UID, {"Письмо.pdf": b"%PDF old"}, title="Старый формат", number="2", dialect="2.x"
    )
    originals = {uid: snapshot(tmp_path / "in" / uid) for uid in (new, old)}
    assert await adapter.poll_once() == 2
    assert list((tmp_path / "in").iterdir()) == []  # removed once the hub had them
    assert len(context.submitted) == 2
    by_uid = {m.headers["medo-uid"]: m for m in context.submitted}
    for uid, original in originals.items():
        submitted = by_uid[uid]
        assert submitted.headers["sender"] == PEER
        envelope = parse_envelope(submitted.body)
        assert envelope.header.recipient == CHANCELLERY
        assert envelope.header.message_type == PAYLOAD_TYPE
        assert envelope.card is not None
        kept = next(a for a in envelope.attachments if a.ref.file_name == ORIGINAL_NAME)
        with zipfile.ZipFile(io.BytesIO(kept.content)) as archive:
            assert {n: archive.read(n) for n in archive.namelist()} == original  # byte for byte
    card = parse_envelope(by_uid[new].body).card
    assert card is not None and card.number == "01/1" and card.title == "О предоставлении сведений"
    names = [a.ref.file_name for a in parse_envelope(by_uid[new].body).attachments]
    assert names[:2] == list(LETTER)  # Cyrillic file names survive
    assert sorted(acks(peer)) == sorted([(new, True, ""), (old, True, "")])
    assert list((tmp_path / "quarantine").iterdir()) == []


def _rezip(folder: Path, change: Callable[[dict[str, bytes]], None], raw: bool = False) -> None:
    path = folder / CONTAINER_NAME
    with zipfile.ZipFile(path) as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    change(files)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    path.write_bytes(buffer.getvalue())


def tamper(folder: Path) -> None:
    _rezip(folder, lambda f: f.update({"Письмо о сведениях.pdf": b"%PDF-1.4\n% forged\n"}))


def drop_signature(folder: Path) -> None:
    def change(files: dict[str, bytes]) -> None:
        del files["Письмо о сведениях.pdf.p7s"]

    _rezip(folder, change)


def break_zip(folder: Path) -> None:
    path = folder / CONTAINER_NAME
    path.write_bytes(path.read_bytes()[:-40])


def zip_bomb(folder: Path) -> None:
    _rezip(folder, lambda f: f.update({"Письмо о сведениях.pdf": bytes(20 * 1024 * 1024)}))


def escaping_path(folder: Path) -> None:
    _rezip(folder, lambda f: f.update({"../../etc/evil.txt": b"x"}))


def huge_envelope(folder: Path) -> None:
    path = folder / "envelope.ini"
    path.write_bytes(path.read_bytes() + b"; " + b"x" * (5 * 1024 * 1024) + b"\r\n")


def foreign_certificate(folder: Path) -> None:
    _rezip(folder, lambda f: f.update({"Письмо о сведениях.pdf.p7s": b"\x30\x03\x02\x01\x00"}))


def stray_signature(folder: Path) -> None:
    _rezip(folder, lambda f: f.update({"Лишнее.pdf.p7s": b"\x30\x00"}))


CASES = {
    "tampered file": (tamper, "does not match its signature"),
    "missing signature": (drop_signature, "is missing"),
    "broken zip": (break_zip, "ZIP"),
    "zip bomb": (zip_bomb, "ZIP bomb"),
    "escaping path": (escaping_path, "escapes the package folder"),
    "huge envelope file": (huge_envelope, "an envelope file has at most"),
    "unreadable signature": (foreign_certificate, "not a readable CMS signature"),
    "signature of nothing": (stray_signature, "which is not in the package"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_bad_package_is_quarantined_with_its_reason(
    case: str, tmp_path: Path, medo_pki: MedoPki, peer: Peer
) -> None:
    damage, reason = CASES[case]
    adapter, context = make_adapter(tmp_path, medo_pki)
    good = peer.send_document(HUB_UID, {"Ответ.pdf": b"%PDF ok"}, title="Хороший", number="5")
    bad = peer.send_document(HUB_UID, LETTER, title="Испорченный", number="6")
    damage(tmp_path / "in" / bad)
    before = snapshot(tmp_path / "in" / bad)
    (tmp_path / "out" / "unrelated").mkdir(parents=True)  # the MEDO client's, not ours
    assert await adapter.poll_once() == 2
    assert [m.headers["medo-uid"] for m in context.submitted] == [good]  # the rest goes on
    assert snapshot(tmp_path / "quarantine" / bad) == before  # set aside as it came
    text = (tmp_path / "quarantine" / f"{bad}.reason.txt").read_text("utf-8")
    assert reason in text and "Причина" in text
    assert (tmp_path / "out" / "unrelated").is_dir()
    got = dict(((uid, (accepted, comment)) for uid, accepted, comment in acks(peer)))
    assert got[good] == (True, "")
    if case == "huge envelope file":  # no envelope read, so nobody known to answer
        assert bad not in got
    else:
        assert got[bad][0] is False and reason in got[bad][1]


async def test_a_stranger_and_a_package_for_someone_else_are_quarantined(
    tmp_path: Path, medo_pki: MedoPki, peer: Peer
) -> None:
    adapter, context = make_adapter(tmp_path, medo_pki)
    context.attributes["medo_uid"] = {}  # the ministry is no participant
    uid = peer.send_document(HUB_UID, {"a.pdf": b"%PDF"}, title="Незнакомец", number="7")
    other = peer.send_document(
        "99999999-2222-4333-8444-555555555555", {"a.pdf": b"%PDF"}, title="Чужой", number="8"
    )
    await adapter.poll_once()
    assert context.submitted == []
    reasons = {
        u: (tmp_path / "quarantine" / f"{u}.reason.txt").read_text("utf-8") for u in (uid, other)
    }
    assert "belongs to no participant" in reasons[uid]
    assert "not to us" in reasons[other]


def test_parse_package_names_what_is_wrong(tmp_path: Path, peer: Peer) -> None:
    """The fuzzable entry point: bytes in, a package or a PackageError out."""
    from adapters.medo.errors import PackageError

    uid = peer.send_document(HUB_UID, LETTER, title="Тема", number="9")
    files = read_folder(tmp_path / "in" / uid)
    package = parse_package(files)
    assert package.message.type == PackageType.DOCUMENT
    assert package.subject == "Тема"  # windows-1251 envelope read back
    for broken, expected in [
        ({k: v for k, v in files.items() if k != "envelope.ini"}, "no envelope.ini"),
        ({**files, "envelope.ini": b"\x98\x98"}, "not windows-1251"),
        ({**files, "message.xml": b"<x"}, "not readable XML"),
        ({**files, "../x": b""}, "escapes"),
    ]:
        with pytest.raises(PackageError, match=expected):
            parse_package(broken)
    shutil.rmtree(tmp_path / "in")


async def test_a_package_that_keeps_failing_is_set_aside_after_five_looks(
    tmp_path: Path, medo_pki: MedoPki, peer: Peer, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter, context = make_adapter(tmp_path, medo_pki)
    uid = peer.send_document(HUB_UID, {"a.pdf": b"%PDF"}, title="Сбой", number="10")

    def broken(xml: bytes) -> bytes:
        raise RuntimeError("the hub's key is unreadable")

    monkeypatch.setattr(context, "sign_envelope", broken)
    for look in range(1, 6):
        await adapter.poll_once()
        assert (tmp_path / "in" / uid).is_dir() == (look < 5)  # left for the next look
    reason = (tmp_path / "quarantine" / f"{uid}.reason.txt").read_text("utf-8")
    assert "after 5 attempts" in reason and "unreadable" in reason
    assert context.submitted == []
