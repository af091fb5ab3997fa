"""The hub's own part in execution control (hub/execution holds the rules): the notices it
sends itself, and the deadline watch.

- **Registration on delivery**: where a department has the hub register what it receives
  (``auto_register``), the store registers the document with the delivery; here the sender is
  told, with a ``registered`` notice the hub signs.
- **Reminders**: ``remind_days_before`` days before a deadline, the executor's department gets
  a ``due_soon`` notice.
- **Overdue**: once a deadline has passed without execution, the executor's department and the
  document's sender get an ``overdue`` notice, and the document's timeline says so.

Each is sent once per deadline (a moved deadline is reminded of again) and recorded before it
is sent: a crash in between loses a notice, never sends two. Notices go to inboxes only (the
configured departments); an agency follows its documents through its own channel. Of several
nodes on one store, only the holder of the ``execution-control`` lease watches the deadlines
(hub/pipeline/presence.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable

from envelopes.codec import new_envelope, to_bytes
from envelopes.model import Kind
from hub.abc import Stage, Transport
from hub.archive.entries import NOTICE
from hub.execution.notices import Notice, notice_element
from hub.execution.policy import ExecutionPolicy
from hub.nodes import EXECUTION_CONTROL
from hub.pipeline.presence import run_leased
from hub.queues import inbox_queue
from hub.records import Due, Registration
from hub.store import Store

log = logging.getLogger("hub.execution")


class ExecutionControl:
    """Sends the hub's own execution notices and watches deadlines."""

    def __init__(
        self,
        hub_id: str,
        store: Store,
        transport: Transport,
        policy: ExecutionPolicy,
        sign: Callable[[bytes], bytes],
        departments: Iterable[str],
    ) -> None:
        self.hub_id = hub_id
        self.store = store
        self.transport = transport
        self.policy = policy
        self._sign = sign
        self.departments = frozenset(departments)

    # ------------------------------------------------------------------ notices
    async def send(self, to: str, notice: Notice) -> str | None:
        """Sign and put a notice about a document into ``to``'s inbox (None: no inbox here)."""
        if to not in self.departments:
            return None
        notice_id = uuid.uuid5(
            uuid.NAMESPACE_URL,
            f"hub-notice:{notice.document}/{notice.stage}/{to}/{notice.deadline or ''}",
        )
        _, root = new_envelope(
            self.hub_id,
            to,
            notice_element(notice),
            kind=Kind.NOTICE,
            message_id=notice_id,
            correlation_id=uuid.UUID(notice.document),
        )
        body = await asyncio.to_thread(self._sign, to_bytes(root))
        await self.store.archive_emitted(
            NOTICE, str(notice_id), notice.document, to, str(notice.stage), body
        )  # on record before it leaves
        await self.transport.publish(
            inbox_queue(to),
            body,
            {"message-id": str(notice_id), "sender": self.hub_id, "kind": "notice"},
        )
        return str(notice_id)

    async def registered(self, registrations: Iterable[Registration]) -> None:
        """Tell the senders of documents the hub registered on delivery."""
        for registration in registrations:
            record = await self.store.document(registration.message_id)
            if record is None:
                continue
            notice = Notice(
                document=registration.message_id,
                stage=Stage.REGISTERED,
                department=registration.department,
                at=self.policy.now(),
                number=registration.number,
                date=registration.registered_on,
                journal=registration.journal,
            )
            try:
                await self.send(record.state.sender, notice)
            except Exception as exc:  # the registration stands; the sender sees it in the hub
                log.warning("could not tell the sender of %s: %r", registration.message_id, exc)

    # ------------------------------------------------------------------ the deadline watch
    async def scan(self) -> tuple[int, int]:
        """One look at the deadlines: (reminders sent, overdue documents found)."""
        today = self.policy.today()
        reminders = 0
        until = today + dt.timedelta(days=self.policy.remind_days_before)
        for item in await self.store.due_documents(until, "reminded"):
            if item.deadline < today:
                continue  # past already: the overdue pass says so
            left = (item.deadline - today).days
            await self.store.mark_told(
                item,
                "reminded",
                Stage.DUE_SOON,
                f"deadline {item.deadline.isoformat()} in {left} days: {item.recipient} reminded",
            )
            await self._tell(item, Stage.DUE_SOON, left, [item.recipient])
            reminders += 1
        overdue = 0
        for item in await self.store.due_documents(today - dt.timedelta(days=1), "overdue"):
            late = (today - item.deadline).days
            await self.store.mark_told(
                item,
                "overdue",
                Stage.OVERDUE,
                f"deadline {item.deadline.isoformat()} passed; executor "
                f"{item.executor or 'none'} of {item.recipient}",
            )
            await self._tell(item, Stage.OVERDUE, late, [item.recipient, item.sender])
            overdue += 1
        return reminders, overdue

    async def _tell(self, item: Due, stage: Stage, days: int, to: list[str]) -> None:
        notice = Notice(
            document=item.message_id,
            stage=stage,
            department=item.recipient,
            at=self.policy.now(),
            deadline=item.deadline,
            days=days,
        )
        for participant in dict.fromkeys(to):
            try:
                await self.send(participant, notice)
            except Exception as exc:  # on record already; an inbox that failed misses one
                log.warning(
                    "%s notice about %s to %s failed: %r", stage, item.message_id, participant, exc
                )

    async def run(self, node: str) -> None:
        """Scan every ``scan_interval`` seconds, until cancelled, while ``node`` holds the
        lease of the deadline watch: of several nodes on one store, one scans (and another
        takes over within about three intervals when it dies)."""
        await run_leased(
            self.store, EXECUTION_CONTROL, node, self.policy.scan_interval, self._scan_and_log
        )

    async def _scan_and_log(self) -> None:
        reminded, overdue = await self.scan()
        if reminded or overdue:
            log.info("execution control: %d reminders, %d overdue", reminded, overdue)
