"""The Merkle tree of RFC 9162 (Certificate Transparency 2.0), section 2.1: hashes, proofs, checks.

Pure functions over a *subtree oracle* — ``subtree(start, end)`` gives MTH(D[start:end]) for an
aligned range — so the store decides how it keeps the nodes (docs/archive.md) and this module
decides nothing about storage. Proof generation and verification follow RFC 9162 §2.1.3 and
§2.1.4 literally, so any CT verifier agrees with them.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

Subtree = Callable[[int, int], bytes]


class ProofError(ValueError):
    """A proof does not lead to the root it claims (or asks for entries the tree lacks)."""


def leaf_hash(entry: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d)."""
    return hashlib.sha256(LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split(n: int) -> int:
    """k: the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of leaf hashes held in memory (tests, bundles, the audit's recomputation)."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    # the RFC's recursion equals folding pairs level by level, a lone last node carried up
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def mth(subtree: Subtree, start: int, end: int) -> bytes:
    """MTH(D[start:end]) from complete aligned subtrees (the oracle answers those)."""
    n = end - start
    if n == 0:
        return EMPTY_ROOT
    if n & (n - 1) == 0 and start % n == 0:
        return subtree(start, end)
    k = split(n)
    return node_hash(mth(subtree, start, start + k), mth(subtree, start + k, end))


def inclusion_proof(subtree: Subtree, index: int, size: int) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1, leaf first."""
    if not 0 <= index < size:
        raise ProofError(f"entry {index} is not in a tree of {size}")
    path: list[bytes] = []
    start, end, m = 0, size, index
    while end - start > 1:
        k = split(end - start)
        if m < k:
            path.append(mth(subtree, start + k, end))
            end = start + k
        else:
            path.append(mth(subtree, start, start + k))
            start, m = start + k, m - k
    path.reverse()
    return path


def consistency_proof(subtree: Subtree, old: int, new: int) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 §2.1.4.1."""
    if not 0 < old <= new:
        raise ProofError(f"no consistency proof from {old} to {new}")
    if old == new:
        return []
    out: list[bytes] = []

    def subproof(m: int, start: int, end: int, whole: bool) -> None:
        n = end - start
        if m == n:
            if not whole:
                out.append(mth(subtree, start, end))
            return
        k = split(n)
        if m <= k:
            subproof(m, start, start + k, whole)
            out.append(mth(subtree, start + k, end))
        else:
            subproof(m - k, start + k, end, False)
            out.append(mth(subtree, start, start + k))

    subproof(old, 0, new, True)
    return out


def root_from_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2), or ProofError."""
    if not 0 <= index < size:
        raise ProofError(f"entry {index} is not in a tree of {size}")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise ProofError("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the inclusion proof is shorter than the tree is deep")
    return r


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> None:
    """ProofError unless ``path`` proves ``leaf`` at ``index`` in the tree of ``root``."""
    if root_from_inclusion(leaf, index, size, path) != root:
        raise ProofError(f"entry {index} does not lead to the root of the tree of {size}")


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """ProofError unless ``proof`` shows the tree of ``old`` is a prefix of that of ``new``
    (RFC 9162 §2.1.4.2)."""
    if old == new:
        if proof or old_root != new_root:
            raise ProofError("equal sizes need an empty proof and equal roots")
        return
    if not 0 < old < new:
        raise ProofError(f"no consistency between sizes {old} and {new}")
    path = list(proof)
    if old & (old - 1) == 0:
        path.insert(0, old_root)
    if not path:
        raise ProofError("empty consistency proof")
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    if fr != old_root:
        raise ProofError(f"the proof does not lead to the old root (size {old})")
    if sr != new_root:
        raise ProofError(f"the proof does not lead to the new root (size {new})")


def range_proof(
    subtree: Subtree, indices: Sequence[int], size: int
) -> list[tuple[int, int, bytes]]:
    """A batch inclusion proof for the sorted leaf numbers ``indices``: MTH(D[start:end]) of
    every maximal range of the RFC's recursion that holds none of them (docs/archive.md)."""
    out: list[tuple[int, int, bytes]] = []

    def walk(start: int, end: int, lo: int, hi: int) -> None:
        if lo == hi:
            out.append((start, end, mth(subtree, start, end)))
            return
        if end - start == 1:
            return
        mid = start + split(end - start)
        at = bisect.bisect_left(indices, mid, lo, hi)
        walk(start, mid, lo, at)
        walk(mid, end, at, hi)

    if indices and not 0 <= indices[0] <= indices[-1] < size:
        raise ProofError(f"entries outside a tree of {size}")
    walk(0, size, 0, len(indices))
    return out


def root_from_range_proof(
    leaves: Mapping[int, bytes], size: int, nodes: Mapping[tuple[int, int], bytes]
) -> bytes:
    """The root that leaves and a batch inclusion proof lead to. A range holding a given leaf
    is always hashed from below (a node given for it is never used), so every leaf counts."""
    indices = sorted(leaves)
    if indices and not 0 <= indices[0] <= indices[-1] < size:
        raise ProofError(f"entries outside a tree of {size}")

    def calc(start: int, end: int, lo: int, hi: int) -> bytes:
        if lo == hi:
            found = nodes.get((start, end))
            if found is None:
                raise ProofError(f"the proof lacks the hash of entries {start}..{end - 1}")
            return found
        if end - start == 1:
            return leaves[start]
        mid = start + split(end - start)
        at = bisect.bisect_left(indices, mid, lo, hi)
        return node_hash(calc(start, mid, lo, at), calc(mid, end, at, hi))

    return calc(0, size, 0, len(indices))


def cover(subtree: Subtree, lo: int, hi: int, size: int) -> list[tuple[int, int, bytes]]:
    """The batch proof's nodes for a gap [lo, hi) between two proven entries (or an end of the
    tree): the maximal ranges of the RFC's recursion inside it, left to right. The nodes of
    every gap, gap after gap, are ``range_proof``'s — computed as the entries stream past."""
    out: list[tuple[int, int, bytes]] = []

    def walk(start: int, end: int) -> None:
        if end <= lo or start >= hi:
            return
        if lo <= start and end <= hi:
            out.append((start, end, mth(subtree, start, end)))
            return
        mid = start + split(end - start)
        walk(start, mid)
        walk(mid, end)

    if lo < hi:
        walk(0, size)
    return out


def root_from_stream(
    leaves: Iterable[tuple[int, bytes]], size: int, nodes: Mapping[tuple[int, int], bytes]
) -> bytes:
    """``root_from_range_proof`` over leaves that stream past in increasing order of their
    numbers: memory for the proof's nodes and the tree's depth, not for the leaves."""
    stream = iter(leaves)
    ahead = next(stream, None)

    def calc(start: int, end: int) -> bytes:
        nonlocal ahead
        if ahead is None or ahead[0] >= end:  # none in [start, end): the proof must have it
            found = nodes.get((start, end))
            if found is None:
                raise ProofError(f"the proof lacks the hash of entries {start}..{end - 1}")
            return found
        if ahead[0] < start:
            raise ProofError(f"entry {ahead[0]} is out of order")
        if end - start == 1:
            leaf, ahead = ahead[1], next(stream, None)
            return leaf
        mid = start + split(end - start)
        return node_hash(calc(start, mid), calc(mid, end))

    if size == 0 and ahead is None:
        return EMPTY_ROOT
    root = calc(0, size)
    if ahead is not None:
        raise ProofError(f"entry {ahead[0]} is outside a tree of {size}")
    return root


class Frontier:
    """The log's root as leaves stream past (the audit): the perfect subtrees so far."""

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[tuple[int, bytes]] = []  # (height, hash), tallest first

    def add(self, leaf: bytes) -> None:
        height, value = 0, leaf
        while self._stack and self._stack[-1][0] == height:
            _, left = self._stack.pop()
            value, height = node_hash(left, value), height + 1
        self._stack.append((height, value))
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        value = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            value = node_hash(left, value)
        return value
