"""The pipeline: what happens to an envelope between the inbound queue and its destinations.

    inbound ─► ingest.py ──► pool.py ─► processor.py (worker processes: parse, validate, verify,
               (batches)                 route, countersign, sign the receipt)
                   │
                   ├─► store (one transaction per batch) ─► dispatch.py (inline adapters now,
                   │                                        the others through hub.out.<adapter>)
                   └─► receipts.py (signed receipts to senders), adapters told of refusals

    hub.out.<adapter> ─► dispatch.py ─► adapter ─► delivered │ retry.py (backoff, breakers.py)
                                                  │ dead_letters.py (and hub.dead)

``hub.py`` wires it together and runs it; ``context.py`` is what adapters get of the hub;
``observers.py`` fans events out to observers (metrics). Import ``Hub`` from ``hub.pipeline.hub``:
this package stays light, because the worker processes import its processor.
"""
