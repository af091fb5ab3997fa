"""Retries: a few quick ones in process, longer waits through the transport.

A delivery attempt gets ``inline_attempts`` quick tries (tenacity, a fraction of a second
apart) for a flaky call. Beyond that, the message goes back to its work queue with an
exponential backoff and jitter (a destination's Retry-After wins if longer), so that a wait
survives a restart and holds no consumer. A route may override every setting; the overrides
travel in the message's headers.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from tenacity import AsyncRetrying, retry_if_result, stop_after_attempt, wait_exponential_jitter

from hub.abc import Adapter, OutboundMessage, Outcome, OutcomeKind
from hub.config import RetryConfig

# Hears every single attempt's outcome (the quick retries included).
OutcomeHook = Callable[[Outcome], None]
# Exceptions that can only mean the network or the peer is troubled: retried, never a crash.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, OSError)


class RetryPolicy:
    """hub.toml's ``[retry]``, with a route's overrides from the message's headers."""

    def __init__(self, config: RetryConfig) -> None:
        self.config = config

    def setting(self, message: OutboundMessage, key: str) -> float:
        """A retry setting: the route's override (in the message's headers) or hub.toml's."""
        override = message.extra.get(f"retry-{key.replace('_', '-')}")
        return float(override) if override else float(getattr(self.config, key))

    def may_retry(self, message: OutboundMessage) -> bool:
        first = float(message.extra.get("first-attempt-at", "0") or 0)
        too_old = bool(first) and time.time() - first > self.setting(message, "max_age")
        return message.attempt < self.setting(message, "max_attempts") and not too_old

    def backoff(self, message: OutboundMessage, retry_after: float | None) -> float:
        """Exponential backoff with jitter; a destination's Retry-After wins if longer."""
        base = self.setting(message, "base_delay")
        jitter = self.config.jitter
        delay = base * 2 ** (message.attempt - 1) * (1 + random.uniform(-jitter, jitter))
        delay = min(self.setting(message, "max_delay"), delay)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return float(max(0.5, delay))

    async def attempt(
        self, adapter: Adapter, message: OutboundMessage, on_outcome: OutcomeHook
    ) -> Outcome:
        """One delivery, with a few quick in-process retries for a flaky call.

        An adapter should classify its failures; the few exception types that can only mean
        the network is troubled count as transient, anything else propagates (the message goes
        back to its queue and, if it keeps crashing us, to the dead letters).
        """

        async def once() -> Outcome:
            try:
                outcome = await adapter.deliver(message)
            except TRANSIENT_ERRORS as exc:
                outcome = Outcome.transient(f"{type(exc).__name__}: {exc}")
            on_outcome(outcome)
            return outcome

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.config.inline_attempts),
            wait=wait_exponential_jitter(multiplier=0.2, max=2.0),
            retry=retry_if_result(
                lambda o: o.kind == OutcomeKind.TRANSIENT and o.retry_after is None
            ),
            retry_error_callback=lambda state: state.outcome.result(),  # type: ignore[union-attr]
        )
        result: Outcome = await retrying(once)
        return result
