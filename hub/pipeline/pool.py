"""Runs the Processor in worker processes so that crypto never blocks the event loop.

``workers = 0`` runs it inline (tests, tiny deployments); otherwise ``workers`` processes
(spawn), each loading the schemas, trust store and hub key once at start, each on its own pair of
pipes. The event loop reads and writes those pipes itself (``add_reader``/``add_writer``, no
threads): ``ProcessPoolExecutor``'s manager and feeder threads and their wake-ups cost the loop
0.3–0.5 ms of CPU per call, the pipes about a third of that (decision 0026).

The wire is ``multiprocessing.connection``'s framing (a 4-byte big-endian length, or -1 and an
8-byte length), so the worker uses a plain ``Connection``: a request is the pickle of
``(fn, args)``, an answer the pickle of ``(True, result)`` or ``(False, exception)``; an empty
message asks the worker to leave.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import io
import multiprocessing
import os
import pickle
import signal
import struct
import time
import traceback
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from hub.abc import Destination
from hub.config import HubConfig
from hub.pipeline import processor as proc
from hub.records import Processed
from hub.routing import RuleSet

_PROTOCOL = pickle.HIGHEST_PROTOCOL
_PIPE_SIZE = 1 << 20  # a batch of 128 × 6.5 KB in one write where the system allows it
_READ_SIZE = 1 << 20
_CLOSE_TIMEOUT = 1.0  # seconds close() gives the workers to leave before it kills them
_SENTINEL = struct.pack("!i", 0)  # an empty message


# ---------------------------------------------------------------- the worker process
def _serve(
    requests: Connection, answers: Connection, config: HubConfig, inline: frozenset[str]
) -> None:
    """A worker's life: initialise once, then one call at a time until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's; it closes us
    proc.init_worker(config, inline)
    while True:
        try:
            data = requests.recv_bytes()
        except EOFError:
            return
        if not data:
            return
        try:
            fn, args = pickle.loads(data)
            del data
            answer = pickle.dumps((True, fn(*args)), _PROTOCOL)
        except Exception as exc:
            answer = _error_answer(exc)
        try:
            answers.send_bytes(answer)
        except OSError:  # the parent is gone
            return


def _error_answer(exc: Exception) -> bytes:
    """The exception itself if it survives a pickle round trip, else a RuntimeError with its
    text (an exception whose ``__init__`` wants other arguments pickles but does not load)."""
    text = "".join(traceback.format_exception(exc))
    try:
        exc.add_note(f"in the crypto worker (pid {os.getpid()}):\n{text}")
        answer = pickle.dumps((False, exc), _PROTOCOL)
        pickle.loads(answer)
        return answer
    except Exception:
        return pickle.dumps((False, RuntimeError(f"{exc!r} in the crypto worker:\n{text}")))


# ---------------------------------------------------------------- the parent's side
def _frame(obj: object) -> memoryview:
    """``obj`` pickled behind Connection's length prefix, without copying the pickle."""
    buffer = io.BytesIO()
    buffer.write(b"\0\0\0\0")
    pickle.Pickler(buffer, _PROTOCOL).dump(obj)
    size = buffer.tell() - 4
    if size > 0x7FFFFFFF:
        return memoryview(struct.pack("!iQ", -1, size) + buffer.getbuffer()[4:])
    view = buffer.getbuffer()
    struct.pack_into("!i", view, 0, size)
    return view


def _grow_pipe(fd: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)


class _Worker:
    """One worker process and the parent's ends of its pipes; at most one call in flight."""

    def __init__(self, process: BaseProcess, reader: int, writer: int) -> None:
        self.process = process
        self.reader = reader  # answers, non-blocking
        self.writer = writer  # requests, non-blocking
        self.inbox = bytearray()
        self.outbox: memoryview | None = None  # what of the request the pipe did not take yet
        self.call: asyncio.Future[Any] | None = None
        self.busy = False  # until the answer arrives, even if the caller gave up on it
        self.answered = False  # has finished initialising and answered once
        self.dead = False


class CryptoPool:
    def __init__(self, config: HubConfig, inline_adapters: frozenset[str]) -> None:
        self.workers = config.workers
        self._config = config
        self._inline = inline_adapters
        self._slots: list[_Worker | None] = [None] * max(0, self.workers)
        self._waiting: collections.deque[tuple[asyncio.Future[Any], memoryview]] = (
            collections.deque()
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        if self.workers <= 0:
            proc.init_worker(config, inline_adapters)

    # ------------------------------------------------------------ the public calls
    async def warm_up(self) -> None:
        """Start every worker now (loading keys and schemas), not on the first message."""
        if self.workers <= 0:
            return
        loop = self._bind_loop()
        calls = []
        for index, slot in enumerate(self._slots):
            worker = slot if slot is not None else self._spawn(index)
            if worker.busy:
                continue
            future: asyncio.Future[Any] = loop.create_future()
            self._send(worker, future, _frame((proc.ready, ())))
            calls.append(future)
        await asyncio.gather(*calls)

    async def process(
        self, bodies: list[bytes], rules: RuleSet, publishers: list[str | None] | None = None
    ) -> list[Processed]:
        """Decide a batch; ``publishers``: each submission's AMQP user_id."""
        results: list[Processed] = await self._run(proc.process_batch, bodies, rules, publishers)
        for body, result in zip(bodies, results, strict=True):
            result.envelope = body
        return results

    async def sign_receipt(
        self,
        recipient: str,
        message_id: str,
        state: str,
        digest: str | None,
        destinations: list[Destination],
        reasons: list[tuple[str, str]],
    ) -> bytes | None:
        result: bytes | None = await self._run(
            proc.sign_receipt, recipient, message_id, state, digest, destinations, reasons
        )
        return result

    async def sign_envelope(self, xml: bytes) -> bytes:
        result: bytes = await self._run(proc.sign_envelope, xml)
        return result

    def close(self) -> None:
        """Ask every worker to leave, give them ``_CLOSE_TIMEOUT`` together, kill the rest.

        Calls still in flight or waiting fail with BrokenProcessPool. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        workers = [w for w in self._slots if w is not None]
        self._slots = [None] * len(self._slots)
        for worker in workers:
            if worker.outbox is None:  # not in the middle of a request: a clean goodbye
                with contextlib.suppress(OSError):
                    os.write(worker.writer, _SENTINEL)
            self._forget(worker, BrokenProcessPool("the crypto pool was closed"))
        deadline = time.monotonic() + _CLOSE_TIMEOUT
        for worker in workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
        for worker in workers:
            if worker.process.exitcode is None:
                worker.process.kill()
                worker.process.join(_CLOSE_TIMEOUT)
        while self._waiting:
            future, _ = self._waiting.popleft()
            _fail(future, BrokenProcessPool("the crypto pool was closed"))

    # ------------------------------------------------------------ calls
    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a worker (``fn`` importable by name in the child)."""
        return await self._run(fn, *args)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self.workers <= 0:
            return fn(*args)
        if self._closed:
            raise BrokenProcessPool("the crypto pool was closed")
        loop = self._bind_loop()
        request = _frame((fn, args))
        future: asyncio.Future[Any] = loop.create_future()
        worker = self._free_worker()
        if worker is not None:
            self._send(worker, future, request)
        else:
            self._waiting.append((future, request))
        return await future

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        """The pipes are watched by one loop; on another one (a test's next loop) start over."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None:
                for index, worker in enumerate(self._slots):
                    if worker is not None:
                        self._slots[index] = None
                        self._forget(worker, BrokenProcessPool("the event loop changed"))
                        worker.process.kill()
                        worker.process.join(_CLOSE_TIMEOUT)
            self._loop = loop
        return loop

    def _free_worker(self) -> _Worker | None:
        """An idle worker (one that has answered before rather than one still starting), or a
        new one in an empty slot; None when all are busy."""
        idle = [w for w in self._slots if w is not None and not w.busy]
        for worker in idle:
            if worker.answered:
                return worker
        if idle:
            return idle[0]
        for index, slot in enumerate(self._slots):
            if slot is None:
                return self._spawn(index)
        return None

    def _spawn(self, index: int) -> _Worker:
        context = multiprocessing.get_context("spawn")
        requests_fd, writer = os.pipe()
        reader, answers_fd = os.pipe()
        requests_r = Connection(requests_fd, writable=False)
        answers_w = Connection(answers_fd, readable=False)
        process = context.Process(
            target=_serve,
            args=(requests_r, answers_w, self._config, self._inline),
            name=f"hub-crypto-{index}",
            daemon=True,
        )
        try:
            process.start()
        except BaseException:
            os.close(reader)
            os.close(writer)
            raise
        finally:
            requests_r.close()  # the child has its own copies: EOF reaches each side
            answers_w.close()
        worker = _Worker(process, reader, writer)
        for fd in (worker.reader, worker.writer):
            os.set_blocking(fd, False)
            _grow_pipe(fd)
        assert self._loop is not None
        self._loop.add_reader(worker.reader, self._on_readable, worker)
        self._slots[index] = worker
        return worker

    def _send(self, worker: _Worker, future: asyncio.Future[Any], request: memoryview) -> None:
        worker.call = future
        worker.busy = True
        try:
            written = os.write(worker.writer, request)
        except BlockingIOError:
            written = 0
        except OSError:  # the worker is gone; its EOF fails the call
            return
        if written < len(request):
            worker.outbox = request[written:]
            assert self._loop is not None
            self._loop.add_writer(worker.writer, self._on_writable, worker)

    def _on_writable(self, worker: _Worker) -> None:
        assert worker.outbox is not None
        try:
            written = os.write(worker.writer, worker.outbox)
        except BlockingIOError:
            return
        except OSError:
            written = len(worker.outbox)  # the worker is gone; its EOF fails the call
        worker.outbox = worker.outbox[written:] if written < len(worker.outbox) else None
        if worker.outbox is None:
            assert self._loop is not None
            self._loop.remove_writer(worker.writer)

    def _on_readable(self, worker: _Worker) -> None:
        try:
            data = os.read(worker.reader, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._died(worker)
            return
        inbox = worker.inbox
        inbox += data
        while len(inbox) >= 4:
            (size,) = struct.unpack_from("!i", inbox)
            start = 4
            if size == -1:
                if len(inbox) < 12:
                    return
                (size,) = struct.unpack_from("!Q", inbox, 4)
                start = 12
            if len(inbox) < start + size:
                return
            with memoryview(inbox) as view:
                answer = view[start : start + size]
                try:
                    ok, value = pickle.loads(answer)
                except Exception as exc:
                    ok, value = False, RuntimeError(f"the worker's answer did not load: {exc!r}")
                finally:
                    answer.release()
            del inbox[: start + size]
            self._answered(worker, ok, value)

    def _answered(self, worker: _Worker, ok: bool, value: Any) -> None:
        future, worker.call, worker.busy, worker.answered = worker.call, None, False, True
        if future is not None and not future.done():  # else the caller was cancelled: dropped
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
        while self._waiting:
            future, request = self._waiting.popleft()
            if not future.done():
                self._send(worker, future, request)
                return

    def _died(self, worker: _Worker) -> None:
        """EOF on the worker's pipe: its call fails, a fresh worker takes its slot.

        The replacement starts at once if the dead one had worked (a poison message, the OOM
        killer), else only when a call needs it: a worker that cannot even start must not
        respawn forever, nor one terminated with the rest of the process group while the hub
        stops.
        """
        index = self._slots.index(worker) if worker in self._slots else -1
        process = worker.process
        process.join(0.1)  # reaped at once if it is dead; kill one that only closed its pipe
        if process.exitcode is None:
            process.kill()
            process.join(_CLOSE_TIMEOUT)
        self._forget(
            worker,
            BrokenProcessPool(f"a crypto worker (pid {process.pid}) died ({process.exitcode})"),
        )
        if index < 0 or self._closed:
            return
        self._slots[index] = None
        stopped = process.exitcode == -signal.SIGTERM  # `kill` of the group: hub stopping too
        if (worker.answered and not stopped) or self._waiting:
            replacement = self._spawn(index)
            while self._waiting:
                future, request = self._waiting.popleft()
                if not future.done():
                    self._send(replacement, future, request)
                    break

    def _forget(self, worker: _Worker, error: BaseException) -> None:
        """Stop watching the worker's pipes, close them, fail its call."""
        if worker.dead:
            return
        worker.dead = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.remove_reader(worker.reader)
            if worker.outbox is not None:
                loop.remove_writer(worker.writer)
        worker.outbox = None
        for fd in (worker.reader, worker.writer):
            with contextlib.suppress(OSError):
                os.close(fd)
        if worker.call is not None:
            _fail(worker.call, error)
            worker.call = None


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        with contextlib.suppress(RuntimeError):  # its loop is closed: nobody waits any more
            future.set_exception(error)
