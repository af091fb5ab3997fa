"""Functions for CryptoPool's tests: module-level, so the spawned workers import them by name."""

from __future__ import annotations

import os
import time


def echo(value: bytes) -> bytes:
    return value


def blob(size: int) -> bytes:
    return os.urandom(size)


def pid() -> int:
    return os.getpid()


def nap(seconds: float, value: object = None) -> tuple[int, float, float, object]:
    """Sleeps; says which process slept, and when (CLOCK_MONOTONIC is one clock for all)."""
    started = time.monotonic()
    time.sleep(seconds)
    return os.getpid(), started, time.monotonic(), value


def fail(message: str) -> None:
    raise ValueError(message)


class Stubborn(Exception):
    """Pickles, but does not load: its ``__init__`` wants two arguments, ``args`` holds one."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code}: {text}")


def fail_stubborn() -> None:
    raise Stubborn(7, "no")
