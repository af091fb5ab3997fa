"""Durable queues under the pipeline: RabbitMQ (quorum queues) or embedded (queues in the
store). Both implement ``hub.abc.Transport`` and pass the same contract tests.

- ``rabbitmq.py``: aio-pika with the safe settings it does not default to;
- ``embedded.py``: rows of the store's ``queue`` table, claimed with a lease;
- ``topology.py``: the AMQP topology as data (what ``rabbitmq.py`` declares, and what each kind
  of message carries); ``asyncapi.py`` writes it out as docs/asyncapi.yaml and as the tables of
  docs/rabbitmq-topology.md.
"""

from __future__ import annotations

from hub.abc import Transport
from hub.config import HubConfig
from hub.store import Store

__all__ = ["open_transport"]


def open_transport(config: HubConfig, store: Store) -> Transport:
    """The transport hub.toml asks for (not started): RabbitMQ with ``broker_url``, else the
    embedded queues in ``store``."""
    if config.embedded:
        from hub.transports.embedded import EmbeddedTransport

        return EmbeddedTransport(store)
    from hub.transports.rabbitmq import RabbitTransport  # aio-pika only where it is used

    return RabbitTransport(config.broker_url)
