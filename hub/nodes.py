"""Several ``hub serve`` nodes on one store and one broker: what they all go by.

Every node writes a heartbeat into the store every ``HEARTBEAT`` seconds; a node not seen for
``ALIVE_BEATS`` heartbeats is taken for gone (``hub status`` lists the others). A job that must
run once across the nodes is done by the holder of its lease (``Store.hold_lease``), which it
renews every half interval for ``LEASE_INTERVALS`` intervals: when the holder dies, another node
takes the job over within about three intervals (hub/pipeline/presence.py).
"""

from __future__ import annotations

HEARTBEAT = 5.0  # seconds between two heartbeats of a node
ALIVE_BEATS = 3  # heartbeats a node may miss before the others take it for gone
LEASE_INTERVALS = 2.5  # a lease's term, in intervals of its job

# the jobs one node does for all (the names of their leases)
EXECUTION_CONTROL = "execution-control"  # reminders and overdue notices (hub/pipeline/execution.py)


def alive_within(heartbeat: float = HEARTBEAT) -> float:
    """Seconds within which a node that beats every ``heartbeat`` seconds was last seen."""
    return ALIVE_BEATS * heartbeat


def reachable_url(scheme: str, host: str, port: int) -> str:
    """Where others reach what listens on ``host``:``port``: a wildcard address (0.0.0.0, ::)
    means every address of the machine, so the machine's name stands for it."""
    if host in ("0.0.0.0", "::", ""):
        import socket

        host = socket.gethostname()
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"
