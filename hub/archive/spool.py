"""What a bundle's writer and verifier keep on disk until the end, instead of in memory: each
message's events, the members and their digests, the message ids, the proof's nodes
(docs/archive.md, "Bundles"). The interface; ``hub.store.bundle_spool.SqliteSpool`` keeps it in
a temporary SQLite file (SQL stays in the store's package, and this package stays pure)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from hub.archive.zipstream import Member


class Spool(Protocol):
    """A temporary store for one bundle, written and read by one thread, gone when closed."""

    # the writer's (and the verifier's timelines)
    def event(self, message_id: str, idx: int, data: str) -> None:
        """An event entry of a message (its canonical JSON)."""

    def timelines(self) -> Iterator[tuple[str, list[str]]]:
        """Each message's events, by message, in log order."""

    def message(self, message_id: str) -> int:
        """A message in the bundle: 1 the first time, 0 after."""

    def messages(self) -> Iterator[str]:
        """The messages, sorted."""

    def file(self, name: str, digest: str, media_type: str) -> None:
        """A member written, its SHA-256 (hex) and media type ('' for none)."""

    def files(self) -> Iterator[tuple[str, str, str]]:
        """The members written, by name."""

    def node(self, start: int, end: int, value: bytes) -> None:
        """The next node of the batch proof."""

    def nodes(self) -> Iterator[tuple[int, int, bytes]]:
        """The proof's nodes, in the order they came."""

    # the verifier's
    def member(self, member: Member) -> bool:
        """A member read from the central directory; False: a second one of that name."""

    def find(self, name: str) -> Member | None:
        """The member of that name."""

    def listed(self, name: str | None, digest: object) -> None:
        """A member and its digest as the manifest lists them (ValueError if not a pair)."""

    def listed_files(self) -> Iterator[tuple[str, str]]:
        """The members the manifest lists, with their digests."""

    def unlisted(self, besides: tuple[str, ...]) -> str | None:
        """The first member the manifest does not list (but for ``besides``)."""

    def prune(self, name: str | None, message_id: object) -> None:
        """A message whose body the manifest says retention removed."""

    def is_pruned(self, message_id: str) -> bool: ...

    def pruned(self) -> list[str]:
        """The messages whose bodies retention removed, sorted."""

    def close(self) -> None: ...


SpoolFactory = Callable[[], Spool]
