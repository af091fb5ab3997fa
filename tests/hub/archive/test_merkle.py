"""RFC 9162's tree: proofs built from stored subtrees agree with the tree computed whole, and
the checks refuse what does not hold."""

from __future__ import annotations

import hashlib

import pytest

from hub.archive.merkle import (
    EMPTY_ROOT,
    Frontier,
    ProofError,
    consistency_proof,
    cover,
    inclusion_proof,
    leaf_hash,
    node_hash,
    range_proof,
    root_from_range_proof,
    root_from_stream,
    root_of,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [leaf_hash(f"entry {i}".encode()) for i in range(70)]


def oracle(start: int, end: int) -> bytes:
    return root_of(LEAVES[start:end])


def test_hashing_is_rfc_9162s() -> None:
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    # MTH of three leaves: the first two paired, the third carried up (k = 2)
    a, b, c = LEAVES[:3]
    assert root_of([a, b, c]) == node_hash(node_hash(a, b), c)


def test_every_inclusion_and_consistency_proof_verifies() -> None:
    frontier = Frontier()
    for size in range(1, len(LEAVES) + 1):
        frontier.add(LEAVES[size - 1])
        root = root_of(LEAVES[:size])
        assert frontier.root() == root
        for index in range(size):
            verify_inclusion(LEAVES[index], index, size, inclusion_proof(oracle, index, size), root)
        for old in range(1, size + 1):
            proof = consistency_proof(oracle, old, size)
            verify_consistency(old, size, root_of(LEAVES[:old]), root, proof)


def test_wrong_proofs_are_refused() -> None:
    root = root_of(LEAVES[:21])
    path = inclusion_proof(oracle, 5, 21)
    with pytest.raises(ProofError):
        verify_inclusion(LEAVES[6], 5, 21, path, root)
    with pytest.raises(ProofError):
        verify_inclusion(LEAVES[5], 5, 21, path[:-1], root)
    proof = consistency_proof(oracle, 7, 21)
    with pytest.raises(ProofError):
        verify_consistency(7, 21, root_of(LEAVES[1:8]), root, proof)


def test_a_batch_proof_counts_every_leaf_it_carries() -> None:
    size = 50
    chosen = [3, 4, 5, 17, 40]
    nodes = {(a, b): h for a, b, h in range_proof(oracle, chosen, size)}
    leaves = {i: LEAVES[i] for i in chosen}
    assert root_from_range_proof(leaves, size, nodes) == root_of(LEAVES[:size])
    leaves[17] = LEAVES[18]
    assert root_from_range_proof(leaves, size, nodes) != root_of(LEAVES[:size])


def test_a_batch_proof_streams_gap_by_gap() -> None:
    """The nodes of each gap between chosen entries, gap after gap, are the batch proof's;
    the root computed as the leaves stream past is the one from the whole map."""
    import random

    rng = random.Random(19)
    for size in range(1, len(LEAVES) + 1):
        for _ in range(4):
            chosen = sorted(rng.sample(range(size), rng.randint(0, size)))
            streamed = []
            last = -1
            for index in [*chosen, size]:
                streamed += cover(oracle, last + 1, index, size)
                last = index
            assert streamed == range_proof(oracle, chosen, size)
            nodes = {(a, b): h for a, b, h in streamed}
            leaves = [(i, LEAVES[i]) for i in chosen]
            assert root_from_stream(leaves, size, nodes) == root_of(LEAVES[:size])
            if chosen:  # a leaf changed, or one left out: another root or no root at all
                leaves[0] = (chosen[0], LEAVES[(chosen[0] + 1) % len(LEAVES)])
                assert root_from_stream(leaves, size, nodes) != root_of(LEAVES[:size])
                with pytest.raises(ProofError):
                    root_from_stream(leaves[1:], size, nodes)
                with pytest.raises(ProofError):  # repeated: out of order
                    root_from_stream(leaves + leaves, size, nodes)
            with pytest.raises(ProofError):
                root_from_stream([(size, LEAVES[0])], size, nodes)
