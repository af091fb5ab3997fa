"""The archive end to end on both store engines: leaves appended in the writer's transaction,
signed heads, proofs through the command line, a bundle verified offline, and an audit that
names every kind of tampering."""

from __future__ import annotations

import asyncio
import json
import zipfile
from pathlib import Path

from click.testing import CliRunner, Result

from hub.archive import entries
from hub.archive.heads import SignedHead
from hub.archive.merkle import leaf_hash, verify_consistency, verify_inclusion
from hub.cli import main
from hub.ops.archive import sign_now
from hub.store import Store, open_store
from tests.hub.archive.conftest import Archived
from tests.hub.store.test_contract import decision, ingest

BODY = "<Конверт>служебная записка {n}</Конверт>"


async def populate(archived: Archived, messages: int = 6) -> list[str]:
    """Messages, their events and an administrator's action, then a signed head."""
    store = await open_store(archived.config)
    try:
        ids = []
        for n in range(messages):
            p = decision(state="accepted" if n % 3 else "rejected")
            p.envelope = BODY.format(n=n).encode()
            await ingest(store, p)
            ids.append(p.message_id)
        await store.record(ids[1], "note", "прочитано")
        await store.audit("admin@host", "cli", "token.create", "t1", "приказ № 7", "{}")
        await sign_now(store, archived.config)
        return ids
    finally:
        await store.close()


async def leaves_of(archived: Archived, message_id: str) -> list[entries.Leaf]:
    store = await open_store(archived.config)
    try:
        return await store.archive_leaves_of([message_id])
    finally:
        await store.close()


def hub(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


async def test_every_write_appends_its_leaves_in_its_own_transaction(archived: Archived) -> None:
    store: Store = await open_store(archived.config)
    try:
        p = decision()
        p.envelope = b"<a/>"
        before = store.database.writer.batches  # type: ignore[attr-defined]
        await ingest(store, p)
        assert store.database.writer.batches == before + 1  # type: ignore[attr-defined]
        # the envelope, then its three first events: queued in that one commit, not numbered
        pending = await store.archive_pending()
        assert [leaf.kind for leaf in pending] == ["envelope", "event", "event", "event"]
        assert await store.archive_size() == 0
        # the sequencer numbers them, in their order
        assert await store.archive_integrate() == 4
        assert await store.archive_pending() == []
        leaves = await store.archive_leaves(0, await store.archive_size())
        assert [leaf.hash for leaf in leaves] == [leaf.hash for leaf in pending]
        sources = await store.archive_sources(leaves)
        assert all(s.data is not None and leaf_hash(s.data) == s.leaf.hash for s in sources)
        assert json.loads(sources[0].data or b"")["size"] == 4
        # a write that fails rolls back its leaves with it: the log keeps no gap
        await store.record("nobody", "note", "x")
        await store.archive_integrate()
        size = await store.archive_size()
        assert [leaf.idx for leaf in await store.archive_leaves(0, size)] == list(range(size))
    finally:
        await store.close()


def test_proofs_and_consistency_through_the_command_line(archived: Archived) -> None:
    ids = asyncio.run(populate(archived, 5))
    first = json.loads(hub("archive", "heads", "--config", archived.config_path).stdout.split()[0])
    asyncio.run(populate(archived, 4))
    signed = hub("archive", "sign", "--config", archived.config_path)
    assert signed.exit_code == 0, signed.output
    new = SignedHead.from_json(json.loads(signed.stdout))

    proved = hub("archive", "proof", ids[2], "--config", archived.config_path)
    assert proved.exit_code == 0, proved.output
    data = json.loads(proved.stdout)
    assert data["head"]["size"] == new.size
    kinds = [p["kind"] for p in data["proofs"]]
    assert kinds[0] == "envelope" and "event" in kinds
    for p in data["proofs"]:
        leaf = leaf_hash(p["entry"].encode())
        assert leaf.hex() == p["leaf"]
        verify_inclusion(leaf, p["index"], new.size, [bytes.fromhex(h) for h in p["path"]],
                         new.root)  # fmt: skip

    consistent = hub("archive", "consistency", str(first), str(new.size), "--config",
                     archived.config_path)  # fmt: skip
    assert consistent.exit_code == 0, consistent.output
    c = json.loads(consistent.stdout)
    verify_consistency(first, new.size, bytes.fromhex(c["old"]["root"]), new.root,
                       [bytes.fromhex(h) for h in c["proof"]])  # fmt: skip

    missing = hub("archive", "proof", "no-such-message", "--config", archived.config_path)
    assert missing.exit_code == 1 and "no-such-message" in missing.stderr


def test_a_bundle_verifies_offline_and_names_what_was_changed(
    archived: Archived, tmp_path: Path
) -> None:
    ids = asyncio.run(populate(archived))
    bundle = tmp_path / "bundle.zip"
    made = hub("archive", "export", "--config", archived.config_path, "--message", ids[1],
               "--message", ids[2], "-o", str(bundle))  # fmt: skip
    assert made.exit_code == 0, made.output
    with zipfile.ZipFile(bundle) as z:
        names = z.namelist()
        assert names[0] == "mimetype" and z.read("mimetype") == b"application/vnd.etsi.asic-e+zip"
        assert "META-INF/manifest.xml" in names
        envelope = z.read(f"messages/{ids[1]}/envelope.xml")
    assert envelope == BODY.format(n=1).encode()

    ok = hub("archive", "verify", str(bundle), "--hub-cert", archived.hub_cert)
    assert ok.exit_code == 0, ok.output
    assert "2 messages" in ok.stdout

    # one byte of an envelope changed (and the manifest's digest fixed up to match)
    forged = tmp_path / "forged.zip"
    _rewrite(bundle, forged, f"messages/{ids[1]}/envelope.xml",
             envelope.replace("записка".encode(), "заПиска".encode()))  # fmt: skip
    failed = hub("archive", "verify", str(forged), "--hub-cert", archived.hub_cert)
    assert failed.exit_code == 1
    assert f"envelope of message {ids[1]}" in failed.stderr
    assert "not the envelope that was logged" in failed.stderr

    # someone else's certificate: the head's signature does not hold
    other = hub("archive", "verify", str(bundle), "--hub-cert",
                str(archived.deployment.pki / "dept.finance.pem"))  # fmt: skip
    assert other.exit_code == 1 and "signature does not verify" in other.stderr

    everything = tmp_path / "all.zip"
    assert hub("archive", "export", "--config", archived.config_path, "--from", "01.01.2000",
               "-o", str(everything)).exit_code == 0  # fmt: skip
    whole = hub("archive", "verify", str(everything), "--hub-cert", archived.hub_cert, "--json")
    assert json.loads(whole.stdout)["messages"] == len(ids)


def _rewrite(source: Path, target: Path, name: str, data: bytes) -> None:
    """The bundle with one file replaced and the manifest's digest of it made to match."""
    import hashlib

    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            content = old.read(info.filename)
            if info.filename == name:
                content = data
            elif info.filename == "archive/manifest.json":
                manifest = json.loads(content)
                manifest["files"][name] = hashlib.sha256(data).hexdigest()
                content = json.dumps(manifest).encode()
            new.writestr(info, content)


def _audit(archived: Archived) -> Result:
    return hub("archive", "audit", "--config", archived.config_path)


def test_audit_is_clean_then_names_a_changed_byte(archived: Archived) -> None:
    ids = asyncio.run(populate(archived))
    clean = _audit(archived)
    assert clean.exit_code == 0, clean.output
    assert clean.stdout.startswith("ok:")
    archived.tamper(
        "UPDATE envelopes SET body = ? WHERE message_id = ?", (BODY.format(n=9).encode(), ids[4])
    )
    found = _audit(archived)
    assert found.exit_code == 1
    assert f"(envelope of message {ids[4]}): its row was changed" in found.stderr


def test_audit_names_a_deleted_an_inserted_and_reordered_rows(archived: Archived) -> None:
    ids = asyncio.run(populate(archived))
    events = [
        int(leaf.ref)
        for leaf in asyncio.run(leaves_of(archived, ids[1]))
        if leaf.kind == entries.EVENT
    ]
    assert archived.tamper("DELETE FROM events WHERE id = ?", (events[0],)) == 1
    archived.tamper(
        "INSERT INTO events (message_id, state, at, detail) VALUES (?, 'note', ?, 'вставлено')",
        (ids[0], "2020-01-01T00:00:00+00:00"),
    )
    # two rows swapped: each now says what the other said
    archived.tamper(
        "UPDATE events SET detail = CASE id WHEN ? THEN (SELECT detail FROM events WHERE id = ?) "
        "ELSE (SELECT detail FROM events WHERE id = ?) END, state = CASE id WHEN ? THEN (SELECT "
        "state FROM events WHERE id = ?) ELSE (SELECT state FROM events WHERE id = ?) END "
        "WHERE id IN (?, ?)",
        (events[1], events[2], events[1], events[1], events[2], events[1], events[1], events[2]),
    )
    found = _audit(archived)
    assert found.exit_code == 1
    assert f"(event {events[0]} of message {ids[1]}): its row is deleted" in found.stderr
    assert "inserted, not in the log" in found.stderr
    assert f"(event {events[1]} of message {ids[1]}): its row now holds what entry" in found.stderr
    assert "rows reordered" in found.stderr


def test_audit_names_a_replaced_head_and_a_rewritten_leaf(archived: Archived) -> None:
    asyncio.run(populate(archived))
    archived.tamper("UPDATE archive_heads SET root = ?, signed = ?", (b"\x00" * 32, b"{}"))
    found = _audit(archived)
    assert found.exit_code == 1
    assert "signature does not verify" in found.stderr and "replaced" in found.stderr


def test_a_rewritten_leaf_breaks_the_signed_root(archived: Archived) -> None:
    ids = asyncio.run(populate(archived))
    # the row and its leaf changed together: only the signed head can tell
    body = BODY.format(n=7).encode()
    archived.tamper("UPDATE envelopes SET body = ? WHERE message_id = ?", (body, ids[3]))
    (leaf,) = [x for x in asyncio.run(leaves_of(archived, ids[3])) if x.kind == "envelope"]
    new_leaf = entries.envelope(ids[3], leaf.at, body).leaf
    archived.tamper("UPDATE archive_leaves SET hash = ? WHERE idx = ?", (new_leaf, leaf.idx))
    found = _audit(archived)
    assert found.exit_code == 1
    assert "no longer lead to its signed root" in found.stderr


def test_retention_removes_bodies_and_every_proof_still_holds(
    archived: Archived, tmp_path: Path
) -> None:
    ids = asyncio.run(populate(archived))

    async def prune() -> None:
        store = await open_store(archived.config)
        try:
            gone = await store.prune_bodies([ids[0], ids[1]], "retention@hub", "5 лет истекли")
            assert gone == [ids[0], ids[1]]
            assert await store.prune_bodies([ids[0]], "retention@hub", "again") == []
            await sign_now(store, archived.config)
        finally:
            await store.close()

    asyncio.run(prune())
    audited = _audit(archived)
    assert audited.exit_code == 0, audited.output
    assert "body removed by retention" in audited.stdout
    bundle = tmp_path / "b.zip"
    assert hub("archive", "export", "--config", archived.config_path, "--message", ids[0],
               "--message", ids[2], "-o", str(bundle)).exit_code == 0  # fmt: skip
    ok = hub("archive", "verify", str(bundle), "--hub-cert", archived.hub_cert, "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["pruned"] == [ids[0]]


def test_rules_versions_and_administrators_actions_are_entries(archived: Archived) -> None:
    async def apply() -> list[str]:
        store = await open_store(archived.config)
        try:
            await store.record_rules_version("v1", "первые правила", at_start=True)
            await store.record_rules_version("v2", "+ правило налоги", at_start=False)
            await store.record_rules_version("v1", "возврат", at_start=False)  # re-applied
            await store.audit("ivanov@host", "cli", "routes.reload", "node-1", "приказ № 9", "{}")
            await sign_now(store, archived.config)
            size = await store.archive_size()
            return [leaf.kind for leaf in await store.archive_leaves(0, size)]
        finally:
            await store.close()

    kinds = asyncio.run(apply())
    assert kinds == ["rules", "rules", "rules", "admin"]
    clean = _audit(archived)
    assert clean.exit_code == 0, clean.output
    assert "(rules v1): superseded by entry 2" in clean.stdout
    archived.tamper("UPDATE rules_versions SET summary = 'подменено' WHERE version = 'v2'")
    archived.tamper("UPDATE audit_log SET reason = 'без приказа'")
    found = _audit(archived)
    assert found.exit_code == 1
    assert "entry 1 (rules v2): its row was changed" in found.stderr
    assert "entry 3 (administrator action 1): its row was changed" in found.stderr
